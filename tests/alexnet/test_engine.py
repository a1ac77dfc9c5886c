"""The one training loop: batches, stop rules, schedules, divergence and exact resume from a state file."""

import math

import pytest
import torch
import torch.nn as nn

from alexnet.engine import Diverged, Engine, EpochClock, StateFile, Tally, TensorBatches, epoch_generator, epoch_seed
from alexnet.schedules import MaxEpochs, NoLaterThan, PhasedLR, PlateauLR, TargetError


def _data(n=40):
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 4
    images = (labels[:, None, None, None] * 60 + torch.randint(0, 20, (n, 3, 4, 4), generator=gen)).to(torch.uint8)
    return images, labels


def _engine(seed=0, batch_size=8, lr=0.05, hooks=None, **kwargs):
    images, labels = _data()
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    batches = TensorBatches(images, labels, batch_size, seed=seed, prepare=lambda x, gen: x.float() / 255)
    hooks = [Tally(), EpochClock()] if hooks is None else hooks
    return Engine(model, optimizer, batches, hooks=hooks, **kwargs)


def test_every_epoch_has_its_own_seed():
    seeds = {epoch_seed(s, e) for s in range(5) for e in range(100)}
    assert len(seeds) == 500
    a, b = epoch_generator(3, 7), epoch_generator(3, 7)
    assert torch.equal(torch.randperm(10, generator=a), torch.randperm(10, generator=b))


def test_tensor_batches_cover_the_epoch_once_in_an_order_fixed_by_seed_and_epoch():
    images, labels = _data(21)
    batches = TensorBatches(images, labels, 5, seed=1, prepare=lambda x, gen: x)
    first = torch.cat([y for _, y in batches.epoch(0)])
    assert batches.steps(0) == 5 and len(first) == 21
    assert sorted(first.tolist()) == sorted(labels.tolist())
    again = [x for x, _ in batches.epoch(0)]
    other = [x for x, _ in batches.epoch(1)]
    assert all(torch.equal(a, b) for a, b in zip(again, [x for x, _ in batches.epoch(0)]))
    assert not all(torch.equal(a, b) for a, b in zip(again, other))
    with pytest.raises(ValueError, match="epoch's start"):
        next(batches.epoch(0, start_step=2))


def test_size_per_epoch_limits_the_images_an_epoch_draws_from():
    images, labels = _data(20)
    batches = TensorBatches(images, labels, 4, seed=0, prepare=lambda x, gen: x, size=lambda epoch: 8 + 4 * epoch)
    assert [batches.steps(e) for e in range(3)] == [2, 3, 4]
    assert len(torch.cat([y for _, y in batches.epoch(1)])) == 12


def test_fit_stops_at_the_first_rule_that_fires_and_says_which():
    engine = _engine()
    assert engine.fit(TargetError(-1.0), MaxEpochs(3)) == "max_epochs"
    assert engine.epoch == 3 and [r["epoch"] for r in engine.records] == [1, 2, 3]
    assert engine.fit(TargetError(1.0), MaxEpochs(5)) == "target"  # the last epoch already reached it
    assert engine.epoch == 3
    assert _engine().fit(NoLaterThan(2), MaxEpochs(5)) == "pruned"


def test_tally_is_the_mean_over_the_epochs_batches():
    engine = _engine(lr=1e-9)  # the weights hardly move: the epoch's error is the start's
    with torch.no_grad():
        images, labels = _data()
        logits = engine.model(images.float() / 255)
        expected = (logits.argmax(1) != labels).float().mean().item()
    record = engine.run_epoch()
    assert record["train_error"] == pytest.approx(expected)
    assert math.isfinite(record["train_loss"]) and record["seconds"] >= 0


class _PoisonedAt(nn.Module):
    """Linear logits, NaN from the ``bad``-th call on."""

    def __init__(self, bad: int) -> None:
        super().__init__()
        self.linear, self.calls, self.bad = nn.Linear(48, 4), 0, bad

    def forward(self, x):
        self.calls += 1
        logits = self.linear(x.flatten(1))
        return logits * float("nan") if self.calls >= self.bad else logits


def test_a_non_finite_loss_stops_before_its_update():
    engine = _engine()
    torch.manual_seed(0)
    engine.model = _PoisonedAt(bad=3)
    engine.optimizer = torch.optim.SGD(engine.model.parameters(), lr=0.05, momentum=0.9)
    torch.manual_seed(0)
    twin = _PoisonedAt(bad=99)
    twin_optimizer = torch.optim.SGD(twin.parameters(), lr=0.05, momentum=0.9)
    twin_engine = Engine(twin, twin_optimizer, engine.batches, hooks=[])
    with pytest.raises(Diverged, match=r"became nan at step 2 .*lower the learning rate"):
        engine.fit(MaxEpochs(5))
    twin_engine.step(), twin_engine.step()
    assert engine.global_step == 2 and isinstance(Diverged("x"), FloatingPointError)
    for a, b in zip(engine.model.parameters(), twin.parameters()):
        assert torch.equal(a, b)  # the two good steps were taken, the NaN one was not


def test_a_run_resumed_from_its_state_file_ends_with_the_same_bits(tmp_path):
    straight = _engine()
    straight.fit(MaxEpochs(4))
    path = tmp_path / "state.pt"
    first = _engine()
    first.hooks.append(StateFile(path, key=dict(run=1)))
    first.fit(MaxEpochs(2))
    resumed = _engine(seed=0)
    assert StateFile(path, key=dict(run=2)).restore(resumed) is None  # another run's state is not taken
    assert StateFile(path, key=dict(run=1)).restore(resumed) is not None and resumed.epoch == 2
    resumed.fit(MaxEpochs(4))
    for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)
    strip = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]  # noqa: E731
    assert strip(resumed.records) == strip(straight.records)
    path.write_bytes(path.read_bytes()[:100])  # cut short: ignored, the run starts over
    assert StateFile(path, key=dict(run=1)).restore(_engine()) is None


def test_phased_lr_scales_only_the_groups_marked_to_scale():
    model = nn.Linear(2, 2)
    groups = [dict(params=[model.weight], lr=1.0, base_lr=1.0, scales=True),
              dict(params=[model.bias], lr=2.0, base_lr=2.0, scales=False)]  # fmt: skip
    optimizer = torch.optim.SGD(groups, lr=1.0)
    engine = Engine(model, optimizer, batches=None, schedule=PhasedLR(lambda epoch: 0.1**epoch))
    engine.epoch = 2
    engine.schedule.start_epoch(engine)
    assert [g["lr"] for g in optimizer.param_groups] == [pytest.approx(0.01), 2.0]


def test_plateau_lr_divides_when_the_metric_stalls_and_ignores_epochs_without_it():
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    plateau = PlateauLR(optimizer, factor=0.1, patience=0, min_lr=0.0)
    for error in (0.5, 0.4, 0.4):
        plateau.end_epoch(None, dict(val_top1_err=error))
    plateau.end_epoch(None, dict(train_error=0.9))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)
    copy = PlateauLR(torch.optim.SGD(model.parameters(), lr=1.0), factor=0.1, patience=0, min_lr=0.0)
    copy.load_state_dict(plateau.state_dict())
    assert copy.scheduler.best == plateau.scheduler.best


def test_a_progress_bar_of_a_run_that_ends_early_as_planned_is_drawn_full():
    from alexnet.engine import ProgressBar

    done = ProgressBar(10, 0, "relu", lambda record: {}, enabled=True)
    done.bar.update(3)
    done.close(finished=True)
    assert done.bar.n == done.bar.total == 3  # a notebook's bar closes green, not red
    failed = ProgressBar(10, 0, "tanh", lambda record: {}, enabled=True)
    failed.bar.update(3)
    failed.close()
    assert failed.bar.total == 10


def test_warmup_rises_linearly_to_its_peak_then_hands_over_and_resumes_exactly():
    from alexnet.schedules import ConstantLR, WarmupLR

    seen = []
    engine = _engine(lr=0.5, schedule=WarmupLR(ConstantLR(), steps=4, peak=0.2),
                     hooks=[type("Rate", (), {"on_step": lambda self, e, out: seen.append(e.lr)})()])  # fmt: skip
    for _ in range(6):
        engine.step()
    assert seen == pytest.approx([0.05, 0.1, 0.15, 0.2, 0.2, 0.2])
    state = engine.schedule.state_dict()
    other = WarmupLR(ConstantLR(), steps=1, peak=1.0)
    other.load_state_dict(state)
    assert (other.steps, other.peak) == (4, 0.2)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        WarmupLR(ConstantLR(), steps=0, peak=0.1)


def test_label_smoothing_and_bf16_autocast_change_the_loss_as_torch_defines_them():
    plain, smoothed = _engine(), _engine(label_smoothing=0.1)
    x, y = next(plain.batches.epoch(0))
    with torch.no_grad():
        logits = plain.model(x)
    expected = torch.nn.functional.cross_entropy(logits, y, label_smoothing=0.1)
    assert smoothed.step().loss.item() == pytest.approx(expected.item(), rel=1e-6)
    low = _engine(autocast=torch.bfloat16)
    out = low.step()
    assert out.loss.dtype == torch.float32 and out.logits.dtype == torch.bfloat16  # products in bf16, loss in fp32
    assert next(low.model.parameters()).dtype == torch.float32  # the weights stay fp32
    assert out.loss.item() == pytest.approx(plain.step().loss.item(), abs=0.05)
