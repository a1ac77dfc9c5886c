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
    assert main(["evaluate", "--checkpoint", str(out / "checkpoint.pt"), "--data", str(tiny_cifar)]) == 0
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


def test_the_old_kernels_option_still_works_with_a_note(tmp_path, capsys):
    write_images(tmp_path / "c" / "train", 3, 8, 32)
    write_images(tmp_path / "c" / "test", 3, 2, 32)
    args = ["train", "--model", "four-layer", "--data", str(tmp_path / "c"), "--steps", "1", "--batch-size", "8",
            "--out", str(tmp_path / "run"), "--quiet"]  # fmt: skip
    assert main([*args[:1], "--kernels", "torch", *args[1:]]) == 0
    assert "--kernels is now called --backend" in capsys.readouterr().err
