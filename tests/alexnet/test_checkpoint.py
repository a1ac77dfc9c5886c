"""Checkpoints (alexnet.checkpoint): exact resume across processes, atomic writes, clear errors, rebuilding a
model from its spec, and a checkpoint written by an earlier version of the code (a committed fixture)."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from alexnet.__main__ import main
from alexnet.checkpoint import CHECKPOINT_VERSION, load_model, read_checkpoint
from alexnet.files import atomic_save
from alexnet.model import FourLayerCNN
from alexnet.train import TrainConfig, Trainer

from .conftest import write_images
from .test_train import make_trainer, synthetic_sets

ROOT = Path(__file__).resolve().parents[2]
# Written by the code of commit 03f1bf8 (before checkpoints moved to alexnet/checkpoint.py): the four-layer CNN
# trained 5 steps (of 6 per epoch, so it stops mid-epoch) on write_images(<root>/train, 3, 16, 32) with
# --batch-size 8 --seed 0. See tests/alexnet/fixtures/README.md.
OLD_CHECKPOINT = Path(__file__).with_name("fixtures") / "four-layer-v2.pt"


def test_resume_in_a_new_process_is_exact(tmp_path):
    sets = synthetic_sets()
    torch.save(sets, tmp_path / "data.pt")
    total, first = 9, 4  # 5 steps per epoch: the resume lands mid-epoch and crosses an epoch end
    straight = make_trainer(sets)
    straight.run(steps=total, progress=False)

    part = make_trainer(sets)
    part.run(steps=first, progress=False)
    part.save_checkpoint(tmp_path / "ckpt.pt")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run(
        [sys.executable, str(Path(__file__).with_name("resume_worker.py")), str(tmp_path / "data.pt"),
         str(tmp_path / "ckpt.pt"), str(total - first), str(tmp_path / "resumed.pt")],
        check=True, env=env, cwd=ROOT, timeout=300,
    )  # fmt: skip
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=True)
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed[name]), name


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    trainer = make_trainer(synthetic_sets())
    path = trainer.save_checkpoint(tmp_path / "ckpt.pt")
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    trainer.run(steps=2, progress=False)
    with pytest.raises(OSError, match="disk full"):
        trainer.save_checkpoint(path)
    assert path.read_bytes() == before  # the old checkpoint is intact
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # and no temporary file is left


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_a_checkpoint_write_is_delivered_after_it(tmp_path, monkeypatch, sig):
    # The signal comes from a thread that was running before the write (as torch's OpenMP pool and tqdm's monitor
    # are), so masking it in the main thread alone would not hold it; Python runs the handler inside torch.save.
    path, seen = tmp_path / "ckpt.pt", []
    go, sent = threading.Event(), threading.Event()

    def send():
        go.wait(timeout=30)
        os.kill(os.getpid(), sig)
        sent.set()

    sender = threading.Thread(target=send)
    sender.start()
    real_save = torch.save

    def save_with_a_signal_in_the_middle(obj, f):
        go.set()
        assert sent.wait(timeout=30)
        for _ in range(1000):  # bytecodes: where CPython runs a pending handler
            pass
        real_save(obj, f)

    monkeypatch.setattr(torch, "save", save_with_a_signal_in_the_middle)
    previous = signal.signal(sig, lambda signum, _frame: seen.append((signum, path.exists())))
    try:
        atomic_save({"weights": torch.arange(1000.0)}, path)
    finally:
        signal.signal(sig, previous)
        sender.join()
    assert seen == [(sig, True)]  # delivered once, after the file was in place
    assert torch.equal(torch.load(path, weights_only=True)["weights"], torch.arange(1000.0))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_ctrl_c_during_a_checkpoint_write_raises_keyboard_interrupt_after_it(tmp_path, monkeypatch):
    # The default handler: what a CLI's last save meets. Raised inside torch.save's writes, KeyboardInterrupt
    # became RuntimeError("unexpected pos ...") and the checkpoint was lost.
    path, real_save = tmp_path / "ckpt.pt", torch.save

    def save_with_ctrl_c_in_the_middle(obj, f):
        signal.raise_signal(signal.SIGINT)
        real_save(obj, f)

    monkeypatch.setattr(torch, "save", save_with_ctrl_c_in_the_middle)
    # Python's own handler, even where the test runner started with SIGINT ignored (a background job).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            atomic_save({"weights": torch.ones(3)}, path)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
    assert torch.equal(torch.load(path, weights_only=True)["weights"], torch.ones(3))


def test_bad_checkpoints_are_clear_errors(tmp_path):
    trainer = make_trainer(synthetic_sets())
    good = trainer.save_checkpoint(tmp_path / "good.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="corrupt or unreadable"):
        read_checkpoint(truncated)
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an alexnet-lab checkpoint"):
        trainer.load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        read_checkpoint(tmp_path / "missing.pt")
    other_model = Trainer(FourLayerCNN(), *synthetic_sets(), TrainConfig(batch_size=8))
    with pytest.raises(ValueError, match="does not fit this model"):
        other_model.load_checkpoint(good)


def test_load_model_rebuilds_from_the_spec(tmp_path):
    trainer = make_trainer(synthetic_sets())
    trainer.run(steps=1, progress=False)
    model = load_model(trainer.save_checkpoint(tmp_path / "c.pt"))
    x = torch.randn(2, 3, 32, 32)
    trainer.model.eval()
    assert torch.equal(model(x), trainer.model(x))


def test_a_checkpoint_from_an_earlier_version_still_loads():
    state = read_checkpoint(OLD_CHECKPOINT)
    assert state["version"] == 2 <= CHECKPOINT_VERSION
    assert state["progress"] == dict(epoch=0, step_in_epoch=5, global_step=5)
    model = load_model(OLD_CHECKPOINT)
    assert isinstance(model, FourLayerCNN) and not model.training
    for name, value in model.state_dict().items():
        assert torch.equal(value, state["model"][name]), name


def test_a_checkpoint_from_an_earlier_version_resumes(tmp_path, capsys):
    root = tmp_path / "c"
    write_images(root / "train", 3, 16, 32)
    write_images(root / "test", 3, 4, 32, seed=2)
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(OLD_CHECKPOINT.read_bytes())
    args = ["train", "--resume", str(run / "checkpoint.pt"), "--data", str(root), "--epochs", "2", "--quiet"]
    assert main(args) == 0
    state = read_checkpoint(run / "checkpoint.pt")
    assert state["progress"]["epoch"] == 2 and state["progress"]["global_step"] == 12
    assert state["train_config"]["batch_size"] == 8 and state["data"]["classes"] == ["class0", "class1", "class2"]
