"""The first Figure 1 experiment (the ``standardized`` setup, library API behind notebook 03's committed curves):
runs end to end, writes the documented JSON, computes the ratio from the curves. The CLI's recipe search is
tested in test_figure1.py."""

import json

import pytest

from alexnet.experiments import relu_vs_tanh as exp

from .test_train import synthetic_sets

RUN_KEYS = {
    "activation", "lr", "epochs", "iterations", "reached_target", "epochs_to_target", "iterations_to_target",
    "diverged", "final_train_error", "wall_s",
}  # fmt: skip


def _tiny(**overrides):
    settings = dict(lrs={"relu": [0.003], "tanh": [0.003, 0.001]}, target=0.6, max_epochs=6, batch_size=8,
                    record_every=2, subset=None)  # fmt: skip
    return exp.Settings(**{**settings, **overrides})


def test_runs_end_to_end_on_made_up_data_and_writes_the_documented_json(tmp_path):
    train, _ = synthetic_sets(n_train=64)
    results = exp.run_experiment(_tiny(), train_set=train, progress=False)
    assert results["schema"] == exp.SCHEMA
    assert set(results) == {"schema", "settings", "runs", "chosen", "speedup", "wall_s"}
    assert [(r["activation"], r["lr"]) for r in results["runs"]] == [("relu", 0.003), ("tanh", 0.003), ("tanh", 0.001)]
    for run in results["runs"]:
        assert set(run) == RUN_KEYS
        assert [e["epoch"] for e in run["epochs"]] == list(range(1, len(run["epochs"]) + 1))
        assert all(i["iteration"] % 2 == 0 for i in run["iterations"])
    assert results["settings"]["train_images"] == 64 and results["settings"]["target"] == 0.6
    json_path, png_path = exp.save(results, tmp_path)
    assert exp.load(json_path) == json.loads(json.dumps(results)) and png_path.stat().st_size > 10_000


def test_ratio_is_computed_from_the_chosen_curves():
    train, _ = synthetic_sets(n_train=64)
    results = exp.run_experiment(_tiny(), train_set=train, progress=False)
    relu, tanh = exp.choose(results["runs"], "relu"), exp.choose(results["runs"], "tanh")
    assert relu is not None and tanh is not None, "the made-up task is easy: both must reach 60%"
    assert results["chosen"] == {"relu": relu["lr"], "tanh": tanh["lr"]}
    assert results["speedup"]["epochs"] == tanh["epochs_to_target"] / relu["epochs_to_target"]
    assert relu["epochs_to_target"] == 1 + next(i for i, e in enumerate(relu["epochs"]) if e["train_error"] <= 0.6)


def test_choose_takes_the_fewest_epochs_then_iterations():
    runs = [
        dict(activation="tanh", lr=0.1, reached_target=True, epochs_to_target=5, iterations_to_target=900),
        dict(activation="tanh", lr=0.2, reached_target=True, epochs_to_target=5, iterations_to_target=800),
        dict(activation="tanh", lr=0.3, reached_target=False, epochs_to_target=None, iterations_to_target=None),
        dict(activation="relu", lr=0.1, reached_target=True, epochs_to_target=1, iterations_to_target=100),
    ]
    assert exp.choose(runs, "tanh")["lr"] == 0.2
    assert exp.speedup(exp.choose(runs, "relu"), exp.choose(runs, "tanh"), 0.25) == dict(
        epochs=5.0, iterations=8.0, reason=None
    )


def test_a_run_that_never_reaches_the_target_is_reported_as_such():
    train, _ = synthetic_sets(n_train=32)
    results = exp.run_experiment(_tiny(target=0.001, max_epochs=2), train_set=train, progress=False)
    for run in results["runs"]:
        assert run["reached_target"] is False and run["epochs_to_target"] is None and len(run["epochs"]) == 2
    assert results["chosen"] == {"relu": None, "tanh": None}
    assert results["speedup"]["epochs"] is None and "never reached" in results["speedup"]["reason"]
    assert "No ratio" in exp.summary(results)
    exp.plot(results)  # still draws


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(lrs={"relu": [0.1], "tanh": [0.1], "sigmoid": [0.1]}), "activations must be among"),
        (dict(lrs={"relu": [], "tanh": [0.1]}), "grid for relu is empty"),
        (dict(lrs={"relu": [0.1], "tanh": [-1.0]}), "learning rates must be > 0"),
        (dict(target=0.0), r"target must be a training error in \(0, 1\)"),
        (dict(target=1.5), r"target must be a training error in \(0, 1\)"),
        (dict(init="xavier"), "init must be"),
    ],
)
def test_bad_settings_are_clear_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        exp.Settings(**overrides)


def test_load_refuses_other_json(tmp_path):
    (tmp_path / "x.json").write_text('{"schema": "other"}')
    with pytest.raises(ValueError, match="not a relu-vs-tanh results file"):
        exp.load(tmp_path / "x.json")
