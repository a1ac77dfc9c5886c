"""Figure 1's recipes and learning-rate search: structure, the raw-vs-rescaled equivalence, pruning, resume, seeds."""

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from alexnet.__main__ import main
from alexnet.experiments import figure1, recipes

from .conftest import CIFAR_ZIP, needs_cifar


def _images(n=64, seed=0):
    """Colour-coded 32x32 images of 10 classes: learnable in a few epochs."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    base = torch.stack([torch.tensor([25 * c, 255 - 25 * c, (70 * c) % 256]) for c in range(10)])[labels]
    images = base[:, :, None, None] + torch.randint(-30, 30, (n, 3, 32, 32), generator=gen)
    return images.clamp(0, 255).to(torch.uint8), labels


def test_cuda_convnet_net_is_3_conv_1_fc_with_rounded_up_pools():
    net = recipes.build_network(recipes.get_recipe("cuda-convnet"), "relu")
    sides = []
    x = torch.randn(2, 3, 32, 32)
    net.pre_activations = {}
    net(x)
    sides = [net.pre_activations[name].shape[-1] for name in ("conv1", "conv2", "conv3")]
    assert sides == [16, 16, 8]  # conv1 pooled to 16 before its activation; conv2 at 16 -> 8; conv3 at 8 -> 4
    assert net.fc10.in_features == 64 * 4 * 4 and net(x).shape == (2, 10)
    assert [type(m).__name__ for m in net.children()][1:] == ["Conv2d", "Conv2d", "Conv2d", "Linear"]
    assert net.conv1.weight.std().item() == pytest.approx(1e-4, rel=0.1)
    assert net.conv2.weight.std().item() == pytest.approx(1e-2, rel=0.1)
    assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in (net.conv1, net.conv2, net.conv3, net.fc10))


def test_both_activations_start_from_the_same_weights_and_leave_the_global_rng_alone():
    state = torch.random.get_rng_state()
    relu = recipes.build_network(recipes.get_recipe("cuda-convnet"), "relu", seed=3)
    tanh = recipes.build_network(recipes.get_recipe("cuda-convnet"), "tanh", seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(a, b) for a, b in zip(relu.state_dict().values(), tanh.state_dict().values()))


def test_cuda_convnet_learning_rates_and_bias_multiplier():
    recipe = recipes.get_recipe("cuda-convnet")
    groups = recipes.param_groups(recipes.build_network(recipe, "relu"), recipe, 0.001)
    assert [g["lr"] for g in groups] == [0.001, 0.002] * 4


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_standardized_rescaled_is_the_cuda_convnet_recipe_in_other_units(activation):
    # Raw inputs x - m and conv1 weights W equal inputs (x - m) / s and weights s W; SGD on s W at lr s^2 eta
    # makes the same updates to the function. Checked on the logits after a few momentum steps.
    images, labels = _images(32)
    std, raw, rescaled = recipes.same_training_in_other_units(images, labels, activation, steps=4, batch_size=8)
    assert 30 < std < 150
    logits = [raw, rescaled]
    torch.testing.assert_close(logits[0], logits[1], rtol=1e-6, atol=1e-6)  # inputs are prepared in fp32
    untrained = recipes.same_training_in_other_units(images, labels, activation, steps=0)[1]
    assert not torch.allclose(logits[0], untrained)  # it learned


def test_unit_activity_on_a_hand_made_tensor():
    z = torch.tensor([[[[3.0, -0.5]]], [[[-2.5, -1.0]]]])  # (N=2, C=1, 1, 2)
    assert recipes.unit_activity(z, "tanh") == dict(saturated_fraction=0.5)
    assert recipes.unit_activity(z, "relu") == dict(dead_fraction=0.5)  # the second unit is <= 0 for both images


def test_layer_statistics_report_every_layer():
    recipe = recipes.get_recipe("cuda-convnet")
    net = recipes.build_network(recipe, "tanh")
    stats = recipes.layer_statistics(net, torch.randn(4, 3, 32, 32) * 60, "tanh")
    assert set(stats) == {"conv1", "conv2", "conv3", "fc10"}
    assert set(stats["conv2"]) == {"mean_abs_weight", "pre_activation_std", "saturated_fraction"}
    assert net.pre_activations is None


def test_scaled_tanh_saturation_is_judged_on_tanhs_own_argument():
    # 1.7159 tanh(2x/3) saturates where |2x/3| > 2: the same slope as |x| > 2 for tanh. conv1 sees the same input
    # through the same weights in both nets, so its x is the same.
    x = torch.randn(8, 3, 32, 32) * 60
    plain = recipes.build_network(recipes.get_recipe("cuda-convnet"), "tanh", seed=1)
    scaled = recipes.build_network(recipes.get_recipe("scaled-tanh"), "tanh", seed=1)
    with torch.no_grad():  # conv1's x std about 2.6: thresholds 2 and 3 give clearly different fractions
        plain.conv1.weight.mul_(50)
        scaled.conv1.weight.mul_(50)
    plain.pre_activations = {}
    plain(x)
    z = plain.pre_activations["conv1"]
    plain.pre_activations = None
    stats = recipes.layer_statistics(scaled, x, "tanh")["conv1"]
    assert (z.abs() > 2).float().mean() - (z.abs() > 3).float().mean() > 0.1
    assert stats["saturated_fraction"] == pytest.approx((z.abs() > 3).float().mean().item())
    assert stats["pre_activation_std"] == pytest.approx(z.std().item() * 2 / 3, rel=1e-5)
    assert recipes.layer_statistics(plain, x, "tanh")["conv1"]["saturated_fraction"] == pytest.approx(
        (z.abs() > 2).float().mean().item()
    )


def _settings(**overrides):
    base = dict(recipe="cuda-convnet", lrs={"relu": [0.002, 0.004], "tanh": [0.002, 0.004]}, seeds=2, target=0.5,
                max_epochs=8, batch_size=16)  # fmt: skip
    return figure1.SearchSettings(**{**base, **overrides})


def test_search_prunes_runs_that_cannot_win_and_repeats_the_winner_with_seeds(tmp_path):
    images, labels = _images(64)
    results = figure1.run_search(_settings(), images, labels, tmp_path, progress=False)
    runs = results["runs"]
    for activation in ("relu", "tanh"):
        searched = [r for r in runs if r["activation"] == activation and r["seed"] == 0]
        assert len(searched) == 2
        winner = min((r for r in searched if r["reached_target"]), key=lambda r: r["epochs_to_target"])
        for other in searched:
            if other is not winner and not other["reached_target"]:
                # It stopped when it could no longer beat the winner, or ran out of epochs.
                assert other["pruned"] or other["diverged"] or len(other["epochs"]) == 8
                if other["pruned"]:
                    assert len(other["epochs"]) <= winner["epochs_to_target"] - 1
        seeds = [r["seed"] for r in runs if r["activation"] == activation and r["lr"] == winner["lr"]]
        assert sorted(seeds) == [0, 1]
    summary = results["summary"]
    relu, tanh = summary["activations"]["relu"], summary["activations"]["tanh"]
    ratios = [tanh["epochs_to_target"][s] / relu["epochs_to_target"][s] for s in (0, 1)]
    assert summary["ratio"]["median"] == pytest.approx(sorted(ratios)[0] / 2 + sorted(ratios)[1] / 2)
    saved = figure1.load(tmp_path / "results-cuda-convnet.json")
    assert saved["runs"] == json.loads(json.dumps(runs)) and "conv1" in saved["runs"][0]["layers"][0]


def test_a_run_that_can_no_longer_win_stops():
    images, labels = _images(64)
    settings = _settings(lrs={"relu": [0.002, 1e-6], "tanh": [0.002]}, seeds=1)  # 0.002 runs first (nearer 0.001)
    runs = figure1.run_search(settings, images, labels, progress=False)["runs"]
    fast, slow = (next(r for r in runs if r["activation"] == "relu" and r["lr"] == lr) for lr in (0.002, 1e-6))
    assert fast["reached_target"] and not fast["pruned"]
    assert slow["pruned"] and not slow["reached_target"] and len(slow["epochs"]) == fast["epochs_to_target"] - 1


def test_a_killed_sweep_resumes_without_rerunning_finished_runs(tmp_path, monkeypatch):
    images, labels = _images(48)
    settings = _settings(seeds=1)
    figure1.run_search(settings, images, labels, tmp_path, progress=False)
    path = tmp_path / "results-cuda-convnet.json"
    results = json.loads(path.read_text())
    dropped = results["runs"].pop()  # as if the sweep was killed during its last run
    path.write_text(json.dumps(results))
    trained = []
    original = figure1.train_run

    def counting(recipe, activation, lr, seed, *args, **kwargs):
        trained.append((activation, lr, seed))
        return original(recipe, activation, lr, seed, *args, **kwargs)

    monkeypatch.setattr(figure1.search, "train_run", counting)
    resumed = figure1.run_search(settings, images, labels, tmp_path, resume=True, progress=False)
    assert trained == [(dropped["activation"], dropped["lr"], dropped["seed"])]
    assert len(resumed["runs"]) == len(results["runs"]) + 1
    with pytest.raises(ValueError, match="was made with other settings"):
        figure1.run_search(_settings(seeds=1, target=0.4), images, labels, tmp_path, resume=True, progress=False)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(recipe="caffe"), "recipe must be one of"),
        (dict(lrs={"relu": [], "tanh": [0.001]}), "grid for relu is empty"),
        (dict(target=1.5), r"target must be a training error in \(0, 1\)"),
        (dict(target=0.0), r"target must be a training error in \(0, 1\)"),
        (dict(lrs={"relu": [-0.1], "tanh": [0.1]}), "finite and > 0"),
    ],
)
def test_bad_settings_are_clear_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        _settings(**overrides)


def test_default_grid_is_factor_two_steps_around_the_base():
    assert figure1.default_grid(0.001) == pytest.approx([2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2])
    assert figure1.search_order([2.5e-4, 5e-4, 1e-3, 2e-3], 1e-3) == [1e-3, 5e-4, 2e-3, 2.5e-4]


def test_cli_refuses_to_replace_results_and_checks_the_recipe(tmp_path, capsys):
    (tmp_path / "results-cuda-convnet.json").write_text("{}")
    assert main(["relu-vs-tanh", "--out", str(tmp_path)]) == 2
    assert "pass --resume to continue that sweep or --overwrite" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["relu-vs-tanh", "--recipe", "caffe"])


@needs_cifar
def test_cli_on_a_real_cifar10_subset(tmp_path, capsys):
    args = ["relu-vs-tanh", "--data", str(CIFAR_ZIP), "--subset", "512", "--max-epochs", "2", "--target", "0.85",
            "--lrs", "0.004", "--seeds", "1", "--out", str(tmp_path), "--quiet"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Recipe cuda-convnet on 512 training images" in out
    results = figure1.load(tmp_path / "results-cuda-convnet.json")
    assert results["settings"]["train_images"] == 512 and (tmp_path / "figure1-cuda-convnet.png").is_file()


def test_a_run_killed_mid_way_continues_from_its_last_epoch(tmp_path, monkeypatch):
    images, labels = _images(48)
    settings = _settings(target=0.01, max_epochs=4, seeds=1)  # never reached: all 4 epochs run
    recipe = recipes.get_recipe("cuda-convnet")
    inputs = recipes.input_statistics(images, recipe)
    straight = figure1.train_run(recipe, "tanh", 0.002, 0, images, labels, inputs, settings)
    state = tmp_path / "state.pt"
    original, calls = figure1.search.layer_statistics, []

    def dies_in_epoch_three(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed after epoch 3's training, before its state was saved
        return original(*args, **kwargs)

    monkeypatch.setattr(figure1.search, "layer_statistics", dies_in_epoch_three)
    with pytest.raises(KeyboardInterrupt):
        figure1.train_run(recipe, "tanh", 0.002, 0, images, labels, inputs, settings, state_path=state)
    monkeypatch.setattr(figure1.search, "layer_statistics", original)
    assert len(torch.load(state, weights_only=True)["engine"]["records"]) == 2
    resumed = figure1.train_run(recipe, "tanh", 0.002, 0, images, labels, inputs, settings, state_path=state)
    assert [e["train_error"] for e in resumed["epochs"]] == [e["train_error"] for e in straight["epochs"]]
    assert resumed["layers"] == straight["layers"]
    other = figure1.train_run(recipe, "tanh", 0.004, 0, images, labels, inputs, settings, state_path=state)
    assert len(other["epochs"]) == 4  # another run's state is not taken for its own


def test_markdown_table_says_how_each_run_ended():
    layers = [dict(epoch=1, conv1=dict(saturated_fraction=0.97, dead_fraction=0.0), fc10=dict(mean_abs_weight=0.1))]
    base = dict(recipe="cuda-convnet", lr=0.001, seed=0, layers=layers, diverged=False, pruned=False)
    runs = [
        dict(base, activation="relu", epochs=[dict(epoch=1, train_error=0.2, seconds=30.0)], reached_target=True,
             epochs_to_target=1, best_train_error=0.2),
        dict(base, activation="tanh", epochs=[dict(epoch=1, train_error=0.5, seconds=40.0)] * 2,
             reached_target=False, epochs_to_target=None, best_train_error=0.5),
        dict(base, activation="tanh", lr=0.016, epochs=[], reached_target=False, epochs_to_target=None,
             best_train_error=None, diverged=True),
    ]  # fmt: skip
    table = figure1.markdown_table(dict(settings=dict(target=0.25), runs=runs)).splitlines()
    assert len(table) == 2 + 3
    assert table[2] == "| relu | 0.001 | 0 | reached in 1 epochs | 20.0% | conv1 0% | 30 s |"
    assert table[3] == "| tanh | 0.001 | 0 | not reached in 2 epochs | 50.0% | conv1 97% | 40 s |"
    assert "diverged after 0 epochs" in table[4] and "| - |" in table[4]


def _result(recipe, relu_epochs, tanh_epochs, lrs=None, seeds=3):
    """A results file of one recipe whose chosen runs reach the target after the given epochs (None: not reached)."""
    settings = figure1.SearchSettings(recipe=recipe, lrs=dict(lrs or {}), seeds=seeds)
    runs = []
    for activation, per_seed in (("relu", relu_epochs), ("tanh", tanh_epochs)):
        for seed, reached in enumerate(per_seed):
            length = reached or 60
            curve = [dict(epoch=e, train_error=0.8 - 0.5 * e / length, seconds=10.0) for e in range(1, length + 1)]
            best = curve[-1]["train_error"]
            runs.append(dict(recipe=recipe, activation=activation, lr=0.002, seed=seed, epochs=curve, layers=[],
                             reached_target=reached is not None, epochs_to_target=reached, diverged=False,
                             pruned=False, best_train_error=best, wall_s=10.0 * length))  # fmt: skip
    meta = dict(asdict(settings), device_name="x86_64 CPU, 2 threads", train_images=50000)
    return dict(schema=figure1.SCHEMA, settings=meta, runs=runs, summary=figure1.summarize(runs, 0.25), wall_s=1.0)


def test_recipes_table_gives_each_recipe_its_ratio_with_the_seed_range_and_command():
    cuda = _result("cuda-convnet", [8, 8, 7], [44, 50, 40])
    standardized = _result("standardized", [6, 7, 6], [6, 6, 5], lrs={"relu": [0.01, 0.02], "tanh": [0.01, 0.02]})
    rescaled = _result("standardized-rescaled", [8], [None], lrs={"relu": [0.002], "tanh": [0.008]}, seeds=1)
    rows = figure1.recipes_table([cuda, standardized, rescaled]).splitlines()
    assert len(rows) == 2 + 3
    # the ratio is per seed: 44/8, 50/8, 40/7 -> median 5.71, range 5.5-6.25
    assert "| 8 (7-8), 3 seeds | 44 (40-50), 3 seeds | **5.7x** (5.5-6.2, 3 seeds) |" in rows[2]
    assert "| 6, 0.4 h | x86_64 CPU |" in rows[2]  # six runs, 157 epochs of 10 s
    assert rows[2].endswith("--recipe cuda-convnet --data ../shared/data/cifar10-jpg.zip "
                            "--out benchmarks/results/relu_vs_tanh --resume` |")  # fmt: skip
    assert "**0.9x** (0.8-1.0, 3 seeds)" in rows[3] and "--lrs 0.01 0.02 " in rows[3]
    assert "| not reached in 60 (best 30.0%) | none |" in rows[4]
    assert "--lrs-relu 0.002 --lrs-tanh 0.008 --seeds 1 " in rows[4]


def test_plot_recipes_draws_one_panel_per_recipe():
    import matplotlib.pyplot as plt

    fig = figure1.plot_recipes([_result("cuda-convnet", [8, 7], [44, 40]), _result("standardized", [6], [None])])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["cuda-convnet: 5.6x", "standardized: no ratio"]
    assert [line.get_linestyle() for line in fig.axes[1].get_lines()][:2] == ["-", "--"]
    plt.close(fig)
    result = _result("cuda-convnet", [8, 7], [44, 40])
    for run in result["runs"]:
        key = "saturated_fraction" if run["activation"] == "tanh" else "dead_fraction"
        run["layers"] = [dict(epoch=e["epoch"], conv1={key: 0.5}) for e in run["epochs"]]
    single = figure1.plot(result)  # one recipe, with its units panel
    assert single.axes[0].get_title() == "cuda-convnet: 5.6x" and len(single.axes) == 2
    assert [line.get_label() for line in single.axes[1].get_lines()] == ["relu conv1", "tanh conv1"]
    plt.close(single)


def test_plot_mechanism_draws_saturation_and_pre_activation_std_of_the_chosen_runs():
    import matplotlib.pyplot as plt

    result = _result("cuda-convnet", [2], [3])
    for run in result["runs"]:
        key = "saturated_fraction" if run["activation"] == "tanh" else "dead_fraction"
        run["layers"] = [
            dict(epoch=e, conv1=dict(mean_abs_weight=0.1, pre_activation_std=50.0 * e, **{key: 0.9}),
                 fc10=dict(mean_abs_weight=0.1))
            for e in range(1, len(run["epochs"]) + 1)
        ]  # fmt: skip
    fig = figure1.plot_mechanism([result])
    top, bottom = fig.axes
    assert [list(line.get_ydata()) for line in top.get_lines()] == [[0.9, 0.9, 0.9]]  # tanh only
    assert [list(line.get_ydata()) for line in bottom.get_lines()] == [[50.0, 100.0], [50.0, 100.0, 150.0]]
    assert bottom.get_yscale() == "log"
    plt.close(fig)


def test_describe_says_what_has_not_run_yet_and_gives_the_seed_range():
    text = figure1.describe(_result("cuda-convnet", [8, 7], [44, 40]))
    assert "relu: lr 0.002, epochs to target per seed: 8, 7." in text
    assert "tanh/ReLU: 5.61x (range 5.50-5.71, 2 seeds)" in text
    assert "(1 seed)" in figure1.describe(_result("cuda-convnet", [8], [44]))
    partial = figure1.describe(_result("standardized", [7], []))
    assert "tanh: no runs yet." in partial and "No ratio: no tanh runs yet." in partial
    assert "No ratio: tanh never reached 25%" in figure1.describe(_result("standardized", [7], [None]))


@pytest.mark.parametrize("init, relu, tanh", [("modern", 7, 6), ("paper", 8, 6)])
def test_the_first_experiments_committed_files_read_and_plot_as_a_search(init, relu, tanh):
    import matplotlib.pyplot as plt

    path = Path(__file__).resolve().parents[2] / "benchmarks/results/relu_vs_tanh" / f"results-{init}.json"
    results = figure1.load(path)
    assert results["schema"] == figure1.SCHEMA and results["settings"]["recipe"] == f"standardized, {init} init"
    summary = results["summary"]["activations"]
    assert summary["relu"]["epochs_to_target"] == {0: relu} and summary["tanh"]["epochs_to_target"] == {0: tanh}
    assert results["summary"]["ratio"]["median"] == pytest.approx(tanh / relu)
    assert "| relu | 0.02 | 0 | reached in" in figure1.markdown_table(results)
    fig = figure1.plot(results)
    assert len(fig.axes) == 1  # no per-layer statistics in those files: the curves alone
    plt.close(fig)
