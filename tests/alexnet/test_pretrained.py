"""Shipped weights: alexnet.pretrained(), the manifest and its hash, export-weights, evaluate --weights, and the
Figure 3 collector over several runs."""

import json
import shutil

import pytest
import torch

import alexnet
from alexnet import hub as pre
from alexnet.__main__ import main
from alexnet.checkpoint import load_model
from alexnet.experiments import figure3
from alexnet.model import ModelSpec

from .conftest import CIFAR_ZIP, needs_cifar

SHIPPED = "cifar-alexnet-cifar10"


@pytest.fixture
def trained_run(tiny_cifar, tmp_path):
    """A two-epoch cifar-alexnet run on the tiny folder, trained through the CLI."""
    out = tmp_path / "run"
    args = ["train", "--model", "cifar-alexnet", "--data", str(tiny_cifar), "--init", "modern", "--epochs", "2",
            "--batch-size", "16", "--backend", "torch", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 0
    return out


@pytest.fixture
def exported(trained_run, tiny_cifar, tmp_path, monkeypatch):
    """Those weights exported into a private weights folder that alexnet.pretrained reads."""
    folder = tmp_path / "weights"
    args = ["export-weights", "--checkpoint", str(trained_run / "checkpoint.pt"), "--name", "tiny", "--data",
            str(tiny_cifar), "--train-command", "python -m alexnet train ...", "--folder", str(folder)]  # fmt: skip
    assert main(args) == 0
    monkeypatch.setattr(pre, "WEIGHTS_DIR", folder)
    return folder


def test_the_shipped_weights_match_their_manifest():
    weights = pre.get_weights(SHIPPED)
    meta = weights.meta
    assert pre.sha256_of(weights.path) == meta["sha256"]
    assert weights.path.stat().st_size == meta["bytes"] < 8e6  # a few MB: fp16
    for key in ("command", "recipe", "data", "epochs", "history", "val_top1_err", "classes", "model_spec"):
        assert key in meta, key
    assert meta["epochs"] == len(meta["history"]) >= 15
    assert meta["data"]["train_images"] == 50_000 and meta["data"]["val_images"] == 10_000
    state = torch.load(weights.path, weights_only=True)
    assert all(v.dtype == torch.float16 for v in state["model"].values())


def test_pretrained_builds_the_model_offline_in_eval_mode():
    model = alexnet.pretrained(SHIPPED, backend="torch")
    assert not model.training
    assert model.weights.classes[0] == "airplane" and len(model.weights.classes) == 10
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        logits = model(model.preprocess(image)[None])
    assert logits.shape == (1, 10) and torch.isfinite(logits).all()
    # What was shipped is what runs: fp16 values, in float32.
    shipped = torch.load(model.weights.path, weights_only=True)["model"]
    assert torch.equal(model.state_dict()["columns.0.conv1.weight"], shipped["columns.0.conv1.weight"].float())


@needs_cifar
def test_the_shipped_model_reaches_its_recorded_validation_error(capsys):
    args = ["evaluate", "--json", "--weights", SHIPPED, "--data", str(CIFAR_ZIP), "--batch-size", "500",
            "--backend", "torch"]  # fmt: skip
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["images"] == 10_000
    assert abs(result["top1_err"] - result["recorded_top1_err"]) <= 0.005, result


def test_unknown_names_and_damaged_files_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="no shipped weights called 'nope'.*cifar-alexnet-cifar10"):
        alexnet.pretrained("nope")
    weights = pre.get_weights(SHIPPED)
    damaged = tmp_path / weights.meta["file"]
    shutil.copy(weights.path, damaged)
    with open(damaged, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    copy = pre.Weights(SHIPPED, weights.meta, tmp_path)
    with pytest.raises(ValueError, match="sha256.*damaged or was replaced"):
        copy.build(backend="torch")
    with pytest.raises(FileNotFoundError, match="missing"):
        pre.Weights(SHIPPED, weights.meta, tmp_path / "nowhere").build(backend="torch")


def test_export_writes_fp16_weights_that_rebuild_the_run(exported, trained_run, tiny_cifar, capsys):
    meta = json.loads((exported / "tiny.json").read_text())
    assert meta["epochs"] == 2 and meta["command"] == "python -m alexnet train ..."
    assert meta["recipe"]["init"] == "modern" and meta["data"]["val_images"] == 12
    model = alexnet.pretrained("tiny", backend="torch")
    trained = load_model(trained_run / "checkpoint.pt", backend="torch")
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), trained(x), atol=2e-2)  # fp16 rounding of the weights only
    # The recorded error is that of the fp16 weights on the validation images, measured again by evaluate.
    assert main(["evaluate", "--json", "--weights", "tiny", "--data", str(tiny_cifar), "--backend", "torch"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["top1_err"] == pytest.approx(meta["val_top1_err"])


def test_export_never_replaces_weights_unless_asked(exported, trained_run, tiny_cifar, capsys):
    before = (exported / "tiny.json").read_text()
    args = ["export-weights", "--checkpoint", str(trained_run / "checkpoint.pt"), "--name", "tiny",
            "--data", str(tiny_cifar), "--train-command", "again", "--folder", str(exported)]  # fmt: skip
    assert main(args) == 2
    assert "exist" in capsys.readouterr().err and (exported / "tiny.json").read_text() == before
    assert main(args + ["--overwrite"]) == 0
    assert json.loads((exported / "tiny.json").read_text())["command"] == "again"


def test_evaluate_weights_refuses_other_data_and_options(exported, tmp_path, capsys):
    from .conftest import write_images

    other = tmp_path / "other"
    write_images(other / "train", 4, 2, 32)
    write_images(other / "test", 4, 2, 32)
    assert main(["evaluate", "--json", "--weights", "tiny", "--data", str(other)]) == 2
    assert "knows 3 classes" in capsys.readouterr().err
    assert main(["evaluate", "--json", "--weights", "tiny", "--data", str(other), "--mean", "channel"]) == 2
    assert "own preprocessing" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--json", "--weights", "tiny", "--checkpoint", "x.pt", "--data", str(other)])
    assert exit_.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_grouped_form_trains_from_the_cli_with_the_columns_initial_weights(tiny_cifar, tmp_path, capsys):
    torch.manual_seed(3)
    columns = ModelSpec("cifar-alexnet", dict(init="modern", backend="torch")).build().eval()
    torch.manual_seed(3)
    grouped = ModelSpec("cifar-alexnet-grouped", dict(init="modern", backend="torch")).build().eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(grouped(x), columns(x), atol=1e-6, rtol=1e-5)
    out = tmp_path / "g"
    args = ["train", "--model", "cifar-alexnet-grouped", "--data", str(tiny_cifar), "--epochs", "1", "--backend",
            "torch", "--batch-size", "16", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 0
    records = json.loads((out / "colour-specificity.json").read_text())
    assert [r["epoch"] for r in records] == [0] and len(records[0]["values"][0]) == 24
    assert main(args[:-3] + ["--devices", "cpu", "cpu", "--out", str(tmp_path / "h")]) == 2
    assert "no columns to place" in capsys.readouterr().err


def test_colour_log_resumes_with_the_checkpoint(trained_run, tiny_cifar):
    path = trained_run / "colour-specificity.json"
    assert [r["epoch"] for r in json.loads(path.read_text())] == [0, 1]
    args = ["train", "--resume", str(trained_run / "checkpoint.pt"), "--data", str(tiny_cifar), "--epochs", "3",
            "--quiet"]  # fmt: skip
    assert main(args) == 0
    assert [r["epoch"] for r in json.loads(path.read_text())] == [0, 1, 2]


def test_figure3_collects_runs_and_draws(trained_run, tmp_path, capsys):
    out = tmp_path / "fig3"
    args = ["--run", f"columns:0={trained_run}", "--run", f"copy:0={trained_run}", "--epochs", "2", "--out", str(out)]
    assert figure3.main(args) == 0
    results = json.loads((out / "colour-specificity-runs.json").read_text())
    assert set(results["runs"]) == {"columns:0", "copy:0"} and results["epochs"] == 2
    run = results["runs"]["columns:0"]
    assert len(run["column_means"]) == 2 and 0 < run["final"]["p_value"] <= 1
    assert results["every_run_splits"] == all(r["final"]["p_value"] < 0.01 for r in results["runs"].values())
    assert (out / "colour-specificity-runs.png").stat().st_size > 10_000
    assert figure3.main(args) == 2  # never over committed results
    assert "--overwrite" in capsys.readouterr().err
    assert figure3.main(args[:-4] + ["--epochs", "5", "--out", str(tmp_path / "x")]) == 2
    assert "2 epochs recorded" in capsys.readouterr().err
