"""The training engine: learning, exact resume across processes, atomic checkpoints, control from threads."""

import json
import threading
import time
from pathlib import Path

import pytest
import torch

from alexnet import data
from alexnet.checkpoint import read_checkpoint
from alexnet.metrics import topk_errors
from alexnet.model import FourLayerCNN, ModelSpec
from alexnet.train import TrainConfig, Trainer

from .conftest import CIFAR_ZIP, needs_cifar

ROOT = Path(__file__).resolve().parents[2]


def synthetic_sets(n_train=40, n_val=12, seed=0):
    """Colour-coded 32x32 images of 4 classes: learnable in a few steps."""
    gen = torch.Generator().manual_seed(seed)

    def make(n):
        labels = torch.arange(n) % 4
        base = torch.tensor([[200, 40, 40], [40, 200, 40], [40, 40, 200], [200, 200, 40]])[labels]
        images = base[:, :, None, None] + torch.randint(-40, 40, (n, 3, 32, 32), generator=gen)
        return data.TensorImages(images.clamp(0, 255).to(torch.uint8), labels, ["r", "g", "b", "y"])

    train, val = make(n_train), make(n_val)
    train.transform = data.Preprocess(torch.full((3, 1, 1), 128.0), 32, train=True, pad=4, std=torch.tensor(64.0))
    val.transform = data.Preprocess(torch.full((3, 1, 1), 128.0), 32, train=False, std=torch.tensor(64.0))
    return train, val


def wait_until(condition, timeout: float = 120.0) -> None:
    """Poll ``condition`` until it holds; fail (instead of hanging the suite) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s for {condition.__code__.co_name}: the training thread is stuck")
        time.sleep(0.01)


def make_trainer(sets, log_dir=None, model="cifar-alexnet", **config):
    """A CIFAR-size AlexNet (dropout, two columns, LRN) or the four-layer CNN; the same in every process."""
    torch.manual_seed(0)
    kwargs = dict(num_classes=4, backend="torch", init="modern") if model == "cifar-alexnet" else dict(num_classes=4)
    spec = ModelSpec(model, kwargs)
    settings = dict(lr=0.01, batch_size=8, seed=5, log_every=1)
    return Trainer(spec.build(), *sets, TrainConfig(**{**settings, **config}), log_dir=log_dir, spec=spec)


def test_topk_errors():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]])
    assert topk_errors(logits, torch.tensor([1, 2]), ks=(1, 2)) == {1: 0.5, 2: 0.5}
    assert topk_errors(logits, torch.tensor([1, 0]), ks=(1, 5)) == {1: 0.0, 5: 0.0}


def test_loss_falls_and_metrics_are_written(tmp_path):
    trainer = make_trainer(synthetic_sets(), log_dir=tmp_path, model="four-layer", lr=0.003)
    trainer.run(epochs=8, progress=False)
    losses = [r["train_loss"] for r in trainer.epochs]
    assert losses[-1] < 0.5 * losses[0] and trainer.epochs[-1]["val_top1_err"] < 0.5
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert {r["kind"] for r in lines} == {"step", "epoch"} and len(lines) == trainer.global_step + 8
    header = (tmp_path / "epochs.csv").read_text().splitlines()[0]
    assert header.startswith("epoch,step,lr,train_loss,train_top1_err,val_loss,val_top1_err,val_top5_err")
    assert (tmp_path / "checkpoint.pt").is_file()


@needs_cifar
def test_four_layer_cnn_learns_real_cifar10():
    train = data.cifar10(CIFAR_ZIP, train=True).subset(2048)
    mean = train.images.float().mean((0, 2, 3)).view(3, 1, 1)
    train.transform = data.Preprocess(mean, 32, train=False, std=torch.tensor(64.0))
    trainer = Trainer(FourLayerCNN("relu"), train, None, TrainConfig(lr=0.01, batch_size=64, weight_decay=0))
    trainer.run(epochs=3, progress=False)
    errors = [r["train_top1_err"] for r in trainer.epochs]
    assert errors[-1] < errors[0] - 0.05 and errors[-1] < 0.8, errors


def test_pause_resume_and_stop_from_another_thread(tmp_path):
    trainer = make_trainer(synthetic_sets(), log_dir=tmp_path)
    worker = threading.Thread(target=trainer.run, kwargs=dict(steps=10_000, progress=False))
    worker.start()
    wait_until(lambda: trainer.global_step >= 2)
    trainer.pause()
    time.sleep(0.3)
    paused_at = trainer.global_step
    time.sleep(0.5)
    assert trainer.paused and trainer.global_step == paused_at
    trainer.resume()
    wait_until(lambda: trainer.global_step >= paused_at + 2)
    trainer.stop()
    worker.join(timeout=30)
    assert not worker.is_alive() and trainer.global_step < 10_000
    assert read_checkpoint(tmp_path / "checkpoint.pt")["progress"]["global_step"] == trainer.global_step


def test_learning_rate_is_divided_by_ten_when_validation_error_stalls():
    # An lr too small to change the validation error: every epoch after the first is a plateau.
    trainer = make_trainer(synthetic_sets(), lr=1e-7, plateau_patience=0, min_lr=1e-12)
    trainer.run(epochs=3, progress=False)
    lrs = [r["lr"] for r in trainer.epochs]
    assert lrs == pytest.approx([1e-7, 1e-7, 1e-8], rel=1e-6)


def test_divergence_is_reported_not_trained_through():
    trainer = make_trainer(synthetic_sets(), lr=1e6, momentum=0.0)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        trainer.run(steps=20, progress=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [(dict(lr=0), "lr must be > 0"), (dict(batch_size=0), "batch_size must be > 0"), (dict(lr_decay=2), "lr_decay")],
)
def test_bad_train_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_run_needs_steps_or_epochs():
    trainer = make_trainer(synthetic_sets())
    with pytest.raises(ValueError, match="exactly one of steps or epochs"):
        trainer.run()
    with pytest.raises(ValueError, match="exactly one of steps or epochs"):
        trainer.run(steps=1, epochs=1)


def test_training_neither_uses_nor_changes_the_global_rng():
    sets = synthetic_sets()
    reference = make_trainer(sets)
    reference.run(steps=3, progress=False)  # dropout draws from the trainer's own stream
    trainer = make_trainer(sets)
    torch.rand(1000)  # the notebook's own draws between steps change nothing in training...
    trainer.run(steps=3, progress=False)
    for name, value in reference.net.state_dict().items():
        assert torch.equal(value, trainer.net.state_dict()[name]), name
    state = torch.get_rng_state()
    trainer.run(steps=2, progress=False)
    assert torch.equal(torch.get_rng_state(), state)  # ...and training leaves the global stream where it was


def test_the_divergence_hint_about_modern_init_appears_only_on_raw_pixels():
    trainer = make_trainer(synthetic_sets())  # init="modern", standardized inputs: the hint does not apply
    assert trainer._divergence_hint() == ""
    trainer.train_set.transform.std = None  # the paper's raw 0-255 scale
    assert "init='modern'" in trainer._divergence_hint()
