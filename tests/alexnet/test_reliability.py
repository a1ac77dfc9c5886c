"""Training never loses a run or trains the wrong thing: each test reproduces a defect found by trying, then pushing.

Overwrite protection, resume validation, exact resume after Ctrl-C / SIGTERM / SIGKILL at random times with clean
logs, class checks, a decode cache that notices changed images, checkpoints that load without running code,
preprocessing kept in the checkpoint, and one-line CLI errors.
"""

import csv
import errno
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from alexnet import data
from alexnet.__main__ import main
from alexnet.checkpoint import read_checkpoint
from alexnet.train import Trainer

from .conftest import write_images
from .test_train import make_trainer, synthetic_sets

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_LAB_CACHE", str(tmp_path / "cache"))


def _train(folder, out, *extra, steps=None, epochs=None):
    args = ["train", "--model", "four-layer", "--data", str(folder), "--batch-size", "8", "--lr", "0.003", "--quiet"]
    args += ["--out", str(out)] if out is not None else []
    args += ["--steps", str(steps)] if steps is not None else []
    args += ["--epochs", str(epochs)] if epochs is not None else []
    return main([*args, *extra])


def _epochs_column(out):
    with (Path(out) / "epochs.csv").open() as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def _one_line_error(capsys, fragment):
    """The error is one line (progress bars of data decoding or training may come before it on stderr)."""
    err = capsys.readouterr().err
    errors = [line for line in err.replace("\r", "\n").splitlines() if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert fragment in errors[0] and err.rstrip().endswith(errors[0]), err
    return errors[0]


# ----------------------------------------------------------------------------------------------- 1, 2: overwrite


def test_train_refuses_an_out_folder_that_holds_a_run(tiny_cifar, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(tiny_cifar, out, epochs=2) == 0
    before = (out / "checkpoint.pt").read_bytes(), (out / "epochs.csv").read_text()
    capsys.readouterr()
    assert _train(tiny_cifar, out, epochs=1) == 2
    _one_line_error(capsys, f"--out {out} already holds a run")
    assert ((out / "checkpoint.pt").read_bytes(), (out / "epochs.csv").read_text()) == before
    assert _train(tiny_cifar, out, "--overwrite", epochs=1) == 0  # asked for: a clean start, clean logs
    assert _epochs_column(out) == [0]
    assert read_checkpoint(out / "checkpoint.pt")["progress"]["epoch"] == 1


def test_trainer_refuses_to_train_over_a_run_it_did_not_load(tmp_path):
    first = make_trainer(synthetic_sets(), log_dir=tmp_path)
    first.run(steps=2, progress=False)
    first.save_checkpoint(tmp_path / "checkpoint.pt")
    trainer = make_trainer(synthetic_sets(), log_dir=tmp_path)
    with pytest.raises(FileExistsError, match="already holds a run"):
        trainer.run(steps=1, progress=False)
    trainer.load_checkpoint(tmp_path / "checkpoint.pt")  # continuing it is fine
    trainer.run(steps=1, progress=False)
    assert trainer.global_step == 3


def test_relu_vs_tanh_writes_to_a_runs_folder_and_never_over_results(tmp_path, monkeypatch, capsys):
    from alexnet.__main__ import build_parser

    args = build_parser().parse_args(["relu-vs-tanh"])
    assert args.out == "runs/relu_vs_tanh"
    results = tmp_path / "results"
    results.mkdir()
    (results / "results-cuda-convnet.json").write_text("committed")
    called = []
    monkeypatch.setattr(data, "load_datasets", lambda *a, **k: called.append(1))
    assert main(["relu-vs-tanh", "--data", "x", "--out", str(results)]) == 2
    _one_line_error(capsys, "already holds results-cuda-convnet.json: pass --resume to continue that sweep")
    assert (results / "results-cuda-convnet.json").read_text() == "committed" and not called


# ----------------------------------------------------------------------------------------------- 3: resume checks


def test_resume_takes_settings_from_the_checkpoint_and_refuses_conflicts(tiny_cifar, tmp_path, capsys):
    out = tmp_path / "run"
    ckpt = str(out / "checkpoint.pt")
    assert _train(tiny_cifar, out, "--batch-size", "16", epochs=1) == 0  # 48 images: 3 steps per epoch
    capsys.readouterr()
    # Not given: from the checkpoint (batch 16), so two more epochs are 6 more steps, not 12.
    assert main(["train", "--resume", ckpt, "--data", str(tiny_cifar), "--epochs", "3", "--quiet"]) == 0
    state = read_checkpoint(ckpt)
    assert state["progress"]["global_step"] == 9 and state["train_config"]["batch_size"] == 16
    for option in (["--batch-size", "8"], ["--model", "cifar-alexnet"], ["--momentum", "0.5"], ["--mean", "none"]):
        capsys.readouterr()
        assert main(["train", "--resume", ckpt, "--data", str(tiny_cifar), "--epochs", "4", *option]) == 2
        _one_line_error(capsys, f"{option[0]} {option[1]} (the checkpoint has")
    assert read_checkpoint(ckpt)["progress"]["global_step"] == 9  # nothing trained
    # A new learning rate is meaningful: applied, and recorded for real.
    assert main(["train", "--resume", ckpt, "--data", str(tiny_cifar), "--steps", "1", "--lr", "0.5", "--quiet"]) == 0
    state = read_checkpoint(ckpt)
    assert state["optimizer"]["lr"] == 0.5 and state["train_config"]["lr"] == 0.5


def test_resume_into_another_runs_folder_is_refused(tiny_cifar, tmp_path, capsys):
    assert _train(tiny_cifar, tmp_path / "a", steps=2) == 0
    assert _train(tiny_cifar, tmp_path / "b", steps=2) == 0
    capsys.readouterr()
    args = ["train", "--resume", str(tmp_path / "a" / "checkpoint.pt"), "--data", str(tiny_cifar), "--steps", "1"]
    assert main([*args, "--out", str(tmp_path / "b")]) == 2
    _one_line_error(capsys, "holds another run")
    assert main([*args, "--out", str(tmp_path / "c"), "--quiet"]) == 0  # a new folder: fine


# ----------------------------------------------------------------------------------------------- 4, 7: kills


def _run_cli(args, env, kill=None):
    """Run python -m alexnet; with kill=(signal, seconds), send it that long after training starts.

    Returns (exit code, stderr, seconds from the start of training to the exit).
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "alexnet", *args], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    started = None
    for line in proc.stdout:  # "training ..." comes right before the first step
        if line.startswith("training "):
            started = time.perf_counter()
            if kill is not None:
                time.sleep(kill[1])
                proc.send_signal(kill[0])
            break
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err, time.perf_counter() - (started or time.perf_counter())


@pytest.mark.slow
def test_kills_at_random_times_resume_to_bit_identical_weights_with_clean_logs(tiny_cifar, tmp_path):
    trials = int(os.environ.get("KILL_TRIALS", "8"))  # of each signal; KILL_TRIALS=20 for a longer hunt
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT), ALEXNET_LAB_CACHE=str(tmp_path / "cache"))
    env.pop("TRITON_INTERPRET", None)
    common = ["--model", "four-layer", "--data", str(tiny_cifar), "--batch-size", "8", "--lr", "0.003", "--quiet",
              "--epochs", "12", "--mean", "channel"]  # fmt: skip
    code, err, training_seconds = _run_cli(["train", *common, "--out", str(tmp_path / "straight")], env)
    assert code == 0, err
    total_steps = read_checkpoint(tmp_path / "straight" / "checkpoint.pt")["progress"]["global_step"]

    out, rng = tmp_path / "killed", random.Random(0)
    kills = [signal.SIGINT, signal.SIGKILL] * trials
    rng.shuffle(kills)
    codes = []
    while True:
        ckpt = out / "checkpoint.pt"
        resume = ["--resume", str(ckpt)] if ckpt.exists() else ["--overwrite"]
        # Spread the kills over the whole run: each process gets a share of the training time that is left.
        done = read_checkpoint(ckpt)["progress"]["global_step"] / total_steps if ckpt.exists() else 0.0
        share = training_seconds * (1 - done) / (len(kills) + 1)
        kill = (kills.pop(), rng.uniform(0, 2 * share)) if kills else None
        code, err, _ = _run_cli(["train", *common, "--out", str(out), *resume], env, kill)
        codes.append(code)
        if kill is None or code == 0:
            assert code == 0, err
            if kill is None:
                break
        else:
            assert code in (130, -signal.SIGKILL), err  # Ctrl-C: stopped between two steps and saved
    assert codes.count(130) >= trials // 2 and codes.count(-signal.SIGKILL) >= trials // 2, codes

    straight = read_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    resumed = read_checkpoint(out / "checkpoint.pt")
    for name, value in straight["model"].items():
        assert torch.equal(value, resumed["model"][name]), name
    assert _epochs_column(out) == list(range(12))  # one row per epoch, none twice
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if r["kind"] == "step"]
    assert steps == sorted(set(steps)) and [r["epoch"] for r in records if r["kind"] == "epoch"] == list(range(12))
    assert not list(out.glob(".*.tmp"))


def test_sigint_in_run_stops_between_steps_and_saves(tmp_path):
    trainer = make_trainer(synthetic_sets(), log_dir=tmp_path)
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where the runner is a background job
    stopped_at = []

    def interrupt(trainer, record):
        if record["step"] == 3:
            os.kill(os.getpid(), signal.SIGINT)
            stopped_at.append(trainer.global_step)

    trainer.run(steps=50, progress=False, callbacks=[interrupt])
    assert trainer.interrupted == "SIGINT" and trainer.global_step == 3 == stopped_at[0]
    assert read_checkpoint(tmp_path / "checkpoint.pt")["progress"]["global_step"] == 3
    assert signal.getsignal(signal.SIGINT) is before  # restored


def test_run_leaves_a_handler_python_did_not_set_alone(tmp_path, monkeypatch):
    # getsignal() is None where a handler came from C (an embedding application): signal.signal could not put it
    # back, so run() must neither replace it nor fail on the way out.
    real = signal.getsignal
    monkeypatch.setattr(signal, "getsignal", lambda sig: None if sig == signal.SIGTERM else real(sig))
    handlers = signal.signal(signal.SIGTERM, signal.SIG_DFL), signal.getsignal(signal.SIGINT)
    trainer = make_trainer(synthetic_sets(), log_dir=tmp_path)
    seen = []
    trainer.run(steps=2, progress=False, callbacks=[lambda t, r: seen.append(real(signal.SIGTERM))])
    signal.signal(signal.SIGTERM, handlers[0])
    assert seen == [signal.SIG_DFL] * 2 and trainer.global_step == 2 and real(signal.SIGINT) is handlers[1]


def test_sigterm_stops_and_saves_too(tmp_path):
    trainer = make_trainer(synthetic_sets(), log_dir=tmp_path)
    def terminate(trainer, record):
        if record["step"] == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    trainer.run(steps=50, progress=False, callbacks=[terminate])
    assert trainer.interrupted == "SIGTERM" and trainer.global_step == 2
    assert read_checkpoint(tmp_path / "checkpoint.pt")["progress"]["global_step"] == 2


def test_resume_drops_rows_logged_after_the_checkpoint_and_leftover_temporary_files(tmp_path):
    trainer = make_trainer(synthetic_sets(), log_dir=tmp_path)  # 5 steps per epoch
    trainer.run(epochs=1, progress=False)
    # What a SIGKILL after the next epoch's rows (and mid-save) but before its checkpoint leaves behind:
    trainer.log.write(dict(kind="step", epoch=1, step=6, loss=1.0))
    trainer.log.write(dict(kind="epoch", epoch=1, step=10, lr=0.01))
    (tmp_path / ".checkpoint.pt.abc123.tmp").write_bytes(b"partial")
    resumed = make_trainer(synthetic_sets(), log_dir=tmp_path)
    assert not (tmp_path / ".checkpoint.pt.abc123.tmp").exists()
    resumed.load_checkpoint(tmp_path / "checkpoint.pt")
    assert _epochs_column(tmp_path) == [0]
    resumed.run(epochs=2, progress=False)
    assert _epochs_column(tmp_path) == [0, 1]
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert sorted(steps) == [1, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10, 10]  # each step once, plus the two epoch rows


# ----------------------------------------------------------------------------------------------- 5: classes


def test_a_validation_folder_missing_a_class_is_an_error_not_shifted_labels(tmp_path, capsys):
    write_images(tmp_path / "d" / "train", 3, 8, 32)
    write_images(tmp_path / "d" / "test", 3, 2, 32)
    for image in (tmp_path / "d" / "test" / "class0").iterdir():
        image.unlink()
    (tmp_path / "d" / "test" / "class0").rmdir()
    with pytest.raises(ValueError, match=r"validation classes differ .*missing: \['class0'\]"):
        data.load_datasets(tmp_path / "d", input_size=32)
    assert _train(tmp_path / "d", tmp_path / "run", steps=1) == 2
    _one_line_error(capsys, "labels would not line up")


def test_evaluate_and_resume_check_the_checkpoints_classes(tiny_cifar, tmp_path, capsys):
    assert _train(tiny_cifar, tmp_path / "run", steps=2) == 0
    other = tmp_path / "other"
    write_images(other / "train", 4, 4, 32)
    write_images(other / "test", 4, 2, 32)
    capsys.readouterr()
    ckpt = str(tmp_path / "run" / "checkpoint.pt")
    assert main(["evaluate", "--checkpoint", ckpt, "--data", str(other)]) == 2
    _one_line_error(capsys, "was trained on 3 classes, --data")
    assert main(["train", "--resume", ckpt, "--data", str(other), "--steps", "1"]) == 2
    _one_line_error(capsys, "trained on 3 classes")
    assert read_checkpoint(ckpt)["data"]["classes"] == ["class0", "class1", "class2"]


def test_one_class_is_an_error(tmp_path, capsys):
    write_images(tmp_path / "one" / "train", 1, 8, 32)
    write_images(tmp_path / "one" / "test", 1, 2, 32)
    assert _train(tmp_path / "one", tmp_path / "run", steps=1) == 2
    _one_line_error(capsys, "a classifier needs at least 2")


def test_a_zip_with_one_top_level_folder_is_read_from_inside_it(tmp_path):
    import shutil

    write_images(tmp_path / "z" / "cifar" / "train", 3, 4, 32)
    write_images(tmp_path / "z" / "cifar" / "test", 3, 2, 32)
    archive = shutil.make_archive(str(tmp_path / "wrapped"), "zip", tmp_path / "z")
    sets = data.load_datasets(archive, input_size=32)
    assert sets.classes == ["class0", "class1", "class2"] and len(sets.train) == 12


# ----------------------------------------------------------------------------------------------- 6: decode cache


def test_decode_cache_notices_rewritten_images(tmp_path):
    root = write_images(tmp_path / "imgs", 2, 3, 32)
    first = data.decode_folder(root, progress=False)
    for image in (root / "class0").iterdir():  # same names, same count, new pixels
        write_images(tmp_path / "new", 1, 3, 32, seed=7)
        os.replace(tmp_path / "new" / "class0" / image.name, image)
        os.utime(image, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    with pytest.warns(UserWarning, match="changed since they were decoded"):
        second = data.decode_folder(root, progress=False)
    assert not torch.equal(first.images[:3], second.images[:3])
    assert torch.equal(first.images[3:], second.images[3:])
    assert len(list(data.cache_dir().glob("decoded-imgs-*.pt"))) == 1  # the stale copy is gone


# ----------------------------------------------------------------------------------------------- 8: safe loading


class _Payload:
    def __reduce__(self):
        return (Path.write_text, (Path(os.environ["ALEXNET_LAB_CACHE"]) / "pwned", "ran"))


def test_a_crafted_checkpoint_is_refused_without_running_its_code(tmp_path):
    path = tmp_path / "evil.pt"
    with path.open("wb") as f:
        pickle.dump({"format": "alexnet-lab/checkpoint", "payload": _Payload()}, f)
    torch.save({"format": "alexnet-lab/checkpoint", "payload": _Payload()}, tmp_path / "evil-torch.pt")
    marker = Path(os.environ["ALEXNET_LAB_CACHE"]) / "pwned"
    marker.parent.mkdir(parents=True, exist_ok=True)
    for crafted in (path, tmp_path / "evil-torch.pt"):
        with pytest.raises(ValueError, match="not a safe checkpoint|corrupt or unreadable"):
            read_checkpoint(crafted)
    assert not marker.exists()


def test_checkpoints_hold_only_plain_data(tmp_path):
    trainer = make_trainer(synthetic_sets())
    trainer.run(steps=2, progress=False)
    path = trainer.save_checkpoint(tmp_path / "c.pt")
    torch.load(path, weights_only=True)  # no allow-list needed
    resumed = make_trainer(synthetic_sets())
    resumed.load_checkpoint(path)
    import numpy as np

    assert np.random.get_state()[2] == trainer.state_dict()["rng"]["numpy"]["pos"]


# ----------------------------------------------------------------------------------------------- 9: preprocessing


def test_mean_is_stored_and_used_by_evaluate(tiny_cifar, tmp_path, capsys):
    assert _train(tiny_cifar, tmp_path / "run", "--mean", "channel", steps=2) == 0
    ckpt = str(tmp_path / "run" / "checkpoint.pt")
    assert read_checkpoint(ckpt)["data"]["mean"] == "channel"
    capsys.readouterr()
    assert main(["evaluate", "--json", "--checkpoint", ckpt, "--data", str(tiny_cifar)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["mean"] == "channel"
    assert main(["evaluate", "--checkpoint", ckpt, "--data", str(tiny_cifar), "--mean", "pixel"]) == 2
    _one_line_error(capsys, "the checkpoint was trained with --mean channel")


# ----------------------------------------------------------------------------------------------- 10: errors


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--epochs", "-3"], "--epochs: must be an integer >= 1, got -3"),
        (["--batch-size", "0"], "--batch-size: must be an integer >= 1, got 0"),
        (["--lr", "-0.1"], "--lr: must be a finite number > 0, got -0.1"),
        (["--lr", "nan"], "--lr: must be a finite number > 0, got nan"),
        (["--workers", "-1"], "--workers: must be an integer >= 0, got -1"),
        (["--subset", "0"], "--subset: must be an integer >= 1, got 0"),
        (["--lr", "fast"], "--lr: 'fast' is not a number"),
    ],
)
def test_bad_numbers_are_one_line_before_any_data_is_read(args, fragment, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", "nowhere", "--out", str(tmp_path / "r"), *args])
    assert exit_info.value.code == 2
    _one_line_error(capsys, fragment)


def _no_data_loading(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("data were loaded before the arguments were checked")

    monkeypatch.setattr(data, "load_datasets", refuse)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_devices_and_kernels_this_machine_lacks_are_refused_before_loading(tmp_path, monkeypatch, capsys):
    _no_data_loading(monkeypatch)
    assert main(["train", "--data", "x", "--out", str(tmp_path / "r"), "--device", "cuda"]) == 2
    _one_line_error(capsys, "--device cuda: no CUDA GPU is visible")
    monkeypatch.delenv("TRITON_INTERPRET")
    assert main(["train", "--data", "x", "--out", str(tmp_path / "r"), "--backend", "triton"]) == 2
    _one_line_error(capsys, "--backend triton needs a CUDA --device")


def test_out_that_is_a_file_or_not_writable_is_refused_before_loading(tmp_path, monkeypatch, capsys):
    _no_data_loading(monkeypatch)
    (tmp_path / "file").write_text("x")
    assert main(["train", "--data", "x", "--out", str(tmp_path / "file")]) == 2
    _one_line_error(capsys, "is a file, not a folder")
    assert main(["train", "--data", "x", "--out", str(tmp_path / "file" / "sub")]) == 2
    _one_line_error(capsys, "is not writable")


def test_missing_data_not_a_zip_and_bad_checkpoints_are_one_line(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "r")]) == 2
    _one_line_error(capsys, "no such data folder or zip")
    (tmp_path / "fake.zip").write_text("not a zip")
    assert main(["train", "--data", str(tmp_path / "fake.zip"), "--out", str(tmp_path / "r")]) == 2
    _one_line_error(capsys, "is not a valid zip archive")
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    assert main(["evaluate", "--checkpoint", str(tmp_path / "bad.pt"), "--data", "x"]) == 2
    _one_line_error(capsys, "corrupt or unreadable")
    assert main(["train", "--resume", str(tmp_path / "none.pt"), "--data", "x"]) == 2
    _one_line_error(capsys, "no checkpoint at")


def test_disk_full_is_one_line_and_keeps_the_old_checkpoint(tiny_cifar, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    assert _train(tiny_cifar, out, steps=2) == 0
    before = (out / "checkpoint.pt").read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    capsys.readouterr()
    assert main(["train", "--resume", str(out / "checkpoint.pt"), "--data", str(tiny_cifar), "--steps", "1"]) == 2
    _one_line_error(capsys, "error: no space left on device")
    assert (out / "checkpoint.pt").read_bytes() == before


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["--debug", "train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "r")])


# ----------------------------------------------------------------------------------------------- 11: small ones


def test_skipped_images_count_survives_a_resume(tmp_path):
    root = write_images(tmp_path / "imgs", 2, 4, 40)
    (root / "class0" / "broken.png").write_bytes(b"not a png")
    sets = data.load_datasets(root, input_size=64, mean="none", augment=False)  # image folders, read per epoch
    assert len(sets.train) == 9

    def trainer():
        return Trainer(_small_net(), sets.train, None, _config(), log_dir=tmp_path / "run")

    first = trainer()
    with pytest.warns(UserWarning, match="skipping unreadable image"):
        first.run(epochs=1, progress=False)
    second = trainer()
    second.load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    with pytest.warns(UserWarning, match="skipping unreadable image"):
        second.run(epochs=2, progress=False)
    assert [r["skipped_images"] for r in second.epochs] == [1, 2]


def _small_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 2))


def _config():
    from alexnet.train import TrainConfig

    return TrainConfig(batch_size=4, lr=0.001)


def test_train_subset_and_help_texts(tiny_cifar, tmp_path, capsys):
    assert _train(tiny_cifar, tmp_path / "run", "--subset", "16", epochs=1) == 0
    assert "16 train / 12 val images" in capsys.readouterr().out
    top = subprocess.run([sys.executable, "-m", "alexnet", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert "relu-vs-tanh" in top.stdout and "evaluate" in top.stdout
    evaluate = subprocess.run(
        [sys.executable, "-m", "alexnet", "evaluate", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert "Top-1 and top-5 error" in evaluate.stdout
    figure1 = subprocess.run(
        [sys.executable, "-m", "alexnet", "relu-vs-tanh", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert "--download" in figure1.stdout and "runs/relu_vs_tanh" in figure1.stdout


def test_divergence_names_the_fix(tiny_cifar, tmp_path, capsys):
    assert _train(tiny_cifar, tmp_path / "run", "--lr", "1e6", "--momentum", "0", steps=20) == 1
    _one_line_error(capsys, "diverged; lower the learning rate")
