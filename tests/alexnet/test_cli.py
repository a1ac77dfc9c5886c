"""python -m alexnet: help, train, resume and evaluate on small image folders."""

import json
import subprocess
import sys

import pytest

from alexnet.__main__ import main
from alexnet.checkpoint import read_checkpoint

from .conftest import write_images


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_LAB_CACHE", str(tmp_path / "cache"))


def test_help_explains_the_commands():
    out = subprocess.run([sys.executable, "-m", "alexnet", "train", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for flag in ("--model", "--data", "--epochs", "--batch-size", "--lr", "--device", "--backend", "--resume"):
        assert flag in out.stdout
    assert "momentum 0.9" in out.stdout
    out = subprocess.run([sys.executable, "-m", "alexnet", "evaluate", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--ten-crop" in out.stdout


def test_train_resume_and_evaluate_a_small_model(tiny_cifar, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--data", str(tiny_cifar), "--batch-size", "8", "--quiet"]
    assert main(["train", "--model", "four-layer", "--steps", "3", "--lr", "0.003", "--out", str(out), *args]) == 0
    assert read_checkpoint(out / "checkpoint.pt")["progress"]["global_step"] == 3
    assert main(["train", "--resume", str(out / "checkpoint.pt"), "--steps", "2", "--out", str(out), *args]) == 0
    state = read_checkpoint(out / "checkpoint.pt")
    assert state["progress"]["global_step"] == 5 and state["model_spec"]["name"] == "four-layer"
    capsys.readouterr()
    assert main(["evaluate", "--json", "--checkpoint", str(out / "checkpoint.pt"), "--data", str(tiny_cifar)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["images"] == 12 and 0 <= result["top1_err"] <= 1


def test_ten_crop_evaluation_of_the_full_alexnet(tmp_path, capsys):
    folder = write_images(tmp_path / "imgs", 2, 2, (300, 260))
    out = tmp_path / "run"
    common = ["--data", str(folder), "--mean", "imagenet", "--quiet"]
    assert (
        main(
            [
                "train",
                "--model",
                "alexnet",
                "--backend",
                "torch",
                "--steps",
                "1",
                "--batch-size",
                "2",
                "--out",
                str(out),
                *common,
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                "--json",
                "--checkpoint",
                str(out / "checkpoint.pt"),
                "--ten-crop",
                "--data",
                str(folder),
                "--mean",
                "imagenet",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["ten_crop"] is True and result["images"] == 4


def test_bad_arguments_exit_with_usage():
    with pytest.raises(SystemExit) as err:
        main(["train", "--model", "vgg", "--data", "x", "--out", "y"])
    assert err.value.code == 2


def test_the_removed_kernels_option_is_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        main(["train", "--kernels", "torch", "--data", str(tmp_path), "--out", str(tmp_path / "run")])
    assert err.value.code == 2 and "unrecognized arguments: --kernels torch" in capsys.readouterr().err


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.replace("\r", "\n").splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_without_model_32x32_data_trains_the_cifar_size_alexnet_with_its_init(tiny_cifar, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(tiny_cifar), "--steps", "1", "--batch-size", "8", "--out", str(out),
                 "--backend", "torch", "--quiet"]) == 0  # fmt: skip
    spec = read_checkpoint(out / "checkpoint.pt")["model_spec"]
    assert spec["name"] == "cifar-alexnet" and spec["kwargs"]["init"] == "modern"
    assert "--model not given: 32x32 images in --data, so cifar-alexnet" in capsys.readouterr().out


def test_without_model_full_size_images_train_the_papers_alexnet(tmp_path, capsys):
    from alexnet.choices import default_init, model_for_data

    folder = write_images(tmp_path / "imgs", 2, 1, (300, 260))
    assert model_for_data(str(folder)) == ("alexnet", "images of up to 300 px")
    assert default_init("alexnet") == "paper" and default_init("cifar-alexnet") == "modern"


def test_subset_on_the_papers_alexnet_names_the_model_that_takes_it(tiny_cifar, tmp_path, capsys):
    args = ["train", "--model", "alexnet", "--data", str(tiny_cifar), "--subset", "10", "--out", str(tmp_path / "r")]
    assert main(args) == 2
    line = _error_line(capsys)
    assert "--subset" in line and "--model cifar-alexnet" in line and "227x227" in line


@pytest.mark.parametrize("flag", ["--epochs", "--steps"])
def test_training_for_nothing_is_refused(tiny_cifar, tmp_path, flag):
    with pytest.raises(SystemExit) as err:
        main(["train", "--data", str(tiny_cifar), flag, "0", "--out", str(tmp_path / "r")])
    assert err.value.code == 2 and not (tmp_path / "r").exists()


def test_a_missing_relative_data_path_says_where_it_was_looked_for(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", "data/cifar.zip", "--steps", "1", "--out", "r"]) == 2
    line = _error_line(capsys)
    assert "no such data folder or zip: data/cifar.zip" in line and str(tmp_path) in line
    assert "extract_zip" not in line


def test_cifar10_without_a_download_names_the_download_option(tmp_path, capsys):
    assert main(["train", "--data", "cifar10", "--steps", "1", "--out", str(tmp_path / "r")]) == 2
    line = _error_line(capsys)
    assert "--download" in line and "cifar10-jpg.zip" in line


def test_train_ends_with_readable_lines_and_warns_at_chance_level(tiny_cifar, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "cifar-alexnet", "--init", "paper", "--data", str(tiny_cifar), "--epochs", "1",
                 "--batch-size", "16", "--out", str(out), "--backend", "torch", "--quiet"]) == 0  # fmt: skip
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[-2].startswith("epoch 1: train loss ") and "validation top-1 error" in lines[-2]
    assert not any(line.lstrip().startswith("{") for line in lines)  # the JSON is in metrics.jsonl
    assert (out / "metrics.jsonl").is_file()
    state = read_checkpoint(out / "checkpoint.pt")
    if state["epochs"][-1]["val_top1_err"] >= 2 / 3 - 0.02:  # chance for 3 classes: the hint must be there
        assert "chance level for 3 classes" in captured.err and "--init modern" in captured.err


def test_chance_hint_names_the_init_only_where_it_is_the_cause():
    from alexnet.cli.train import chance_hint
    from alexnet.model import ModelSpec

    at_chance = [dict(val_top1_err=0.9)]
    small_paper = ModelSpec("cifar-alexnet", dict(init="paper"))
    assert "--init modern" in chance_hint(at_chance, 10, small_paper)
    assert "--init modern" not in chance_hint(at_chance, 10, ModelSpec("alexnet", dict(init="paper")))
    assert chance_hint([dict(val_top1_err=0.5)], 10, small_paper) is None


def _documented_commands() -> list[list[str]]:
    """Every `python -m alexnet ...` and `torchrun ... -m alexnet ...` line in the README and docs/."""
    import shlex
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    commands = []
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        blocks = doc.read_text().replace("\\\n", " ").split("```")[1::2]  # the fenced code blocks
        for line in (line for block in blocks for line in block.splitlines()):
            line = line.split(" #")[0].strip()
            if "-m alexnet " not in line or "..." in line or "HOST:" in line:
                continue
            commands.append(shlex.split(line.split("-m alexnet ", 1)[1]))
    return commands


def test_documented_commands_parse():
    from alexnet.__main__ import build_parser

    commands = _documented_commands()
    assert len(commands) >= 8
    parser = build_parser()
    for words in commands:
        try:
            parser.parse_args(words)
        except SystemExit as err:
            raise AssertionError(f"python -m alexnet {' '.join(words)} does not parse") from err


def test_cuda_convnet_models_are_refused_by_train_with_the_command_that_trains_them(tiny_cifar, tmp_path, capsys):
    args = ["train", "--model", "cuda-convnet-13pct", "--data", str(tiny_cifar), "--out", str(tmp_path / "r")]
    assert main(args) == 2
    assert "python -m alexnet lrn-overlap --variant 13pct" in _error_line(capsys)


def test_lrn_overlap_runs_a_short_study_and_refuses_to_replace_it(tiny_cifar, tmp_path, capsys):
    out = tmp_path / "study"
    args = ["lrn-overlap", "--data", str(tiny_cifar), "--variant", "13pct", "--seeds", "1", "--epochs", "1",
            "--backend", "torch", "--out", str(out), "--quiet"]  # fmt: skip
    from alexnet.experiments import lrn_overlap

    assert main(args) == 0  # 48 training images: 9 of them held out as "batch 5"
    printed = capsys.readouterr().out
    assert "13pct: 1 of 1 runs finished" in printed and "Left in the plan: nothing" in printed
    assert lrn_overlap.load(out / "results.json")["runs"]["13pct:0"]["finished"]
    assert main(args) == 2 and "--resume" in _error_line(capsys)


def test_an_abbreviated_option_is_refused_not_guessed(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        main(["train", "--data", str(tmp_path), "--epoch", "3", "--out", str(tmp_path / "run")])
    assert err.value.code == 2 and "unrecognized arguments: --epoch 3" in capsys.readouterr().err


def test_cifar10_not_downloaded_says_only_what_to_do(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ALEXNET_LAB_CACHE", str(tmp_path / "empty-cache"))
    assert main(["train", "--data", "cifar10", "--out", str(tmp_path / "run")]) == 2
    out, err = capsys.readouterr()
    assert "--model not given" not in out and "cifar-alexnet" not in out  # nothing is said about data not there
    assert err.count("\n") == 1 and "CIFAR-10 is not downloaded" in err and "--download" in err
    assert "cifar10-jpg.zip" in err


def test_train_takes_the_recipe_and_precision_records_them_and_refuses_unknown_ones(tiny_cifar, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--data", str(tiny_cifar), "--batch-size", "8", "--quiet", "--model", "four-layer", "--out", str(out)]
    assert main(["train", "--steps", "2", "--recipe", "fast", "--precision", "bf16", *args]) == 0
    config = read_checkpoint(out / "checkpoint.pt")["train_config"]
    assert (config["recipe"], config["warmup_steps"], config["label_smoothing"], config["precision"]) == (
        "fast", 200, 0.1, "bf16")  # fmt: skip
    assert config["lr"] == 0.03  # the fast recipe's rate, since --lr was not given
    capsys.readouterr()
    with pytest.raises(SystemExit) as err:
        main(["train", "--steps", "1", "--recipe", "quick", *args])
    assert err.value.code == 2 and "invalid choice: 'quick'" in capsys.readouterr().err
