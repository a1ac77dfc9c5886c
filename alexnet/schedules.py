"""How the learning rate moves and when a run ends: the schedules and stop rules that :class:`alexnet.engine.Engine`
takes as objects.

* schedules (``start_step``, ``start_epoch``, ``end_epoch``, ``state_dict``): :class:`ConstantLR`,
  :class:`PlateauLR` (the paper's: divide when validation stalls), :class:`PhasedLR` (cuda-convnet's fixed phases),
  :class:`WarmupLR` (a linear warm-up before another schedule);
* stop rules (called before each epoch, a reason or None): :class:`MaxEpochs`, :class:`TargetError`,
  :class:`NoLaterThan` (pruning).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .engine import Engine


# ----------------------------------------------------------------------------------------------- schedules


class ConstantLR:
    """The learning rate stays where it is (a user may still change it by hand)."""

    def start_step(self, engine: Engine) -> None:
        pass

    def start_epoch(self, engine: Engine) -> None:
        pass

    def end_epoch(self, engine: Engine, record: dict) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class PlateauLR(ConstantLR):
    """Divide the learning rate by ``1 / factor`` when the epoch's ``metric`` has not improved for ``patience``
    epochs (the paper, section 5: "divide the learning rate by 10 when the validation error rate stopped
    improving"); epochs without that metric leave it alone."""

    def __init__(self, optimizer: torch.optim.Optimizer, *, factor: float, patience: int, min_lr: float,
                 metric: str = "val_top1_err") -> None:  # fmt: skip
        self.metric = metric
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=factor, patience=patience, min_lr=min_lr
        )

    def end_epoch(self, engine: Engine, record: dict) -> None:
        if self.metric in record:
            self.scheduler.step(record[self.metric])

    def state_dict(self) -> dict:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.scheduler.load_state_dict(state)


class PhasedLR(ConstantLR):
    """A fixed schedule: ``factor(epoch)`` times each parameter group's ``base_lr`` for the groups marked
    ``scales`` (cuda-convnet divides epsW and leaves the biases' epsB alone)."""

    def __init__(self, factor: Callable[[int], float]) -> None:
        self.factor = factor

    def start_epoch(self, engine: Engine) -> None:
        factor = self.factor(engine.epoch)
        for group in engine.optimizer.param_groups:
            group["lr"] = group["base_lr"] * (factor if group["scales"] else 1.0)


class WarmupLR(ConstantLR):
    """A linear warm-up from ``peak / steps`` to ``peak`` over the first ``steps`` steps, then ``then`` (another
    schedule) in charge. A high rate from the first step can send a fresh network's loss flying; rising to it over
    a few hundred steps lets the fast recipe use a rate that learns quickly once the weights have settled."""

    def __init__(self, then: ConstantLR, *, steps: int, peak: float) -> None:
        if steps < 1:
            raise ValueError(f"WarmupLR: steps must be >= 1, got {steps}")
        self.then, self.steps, self.peak = then, steps, peak

    def start_step(self, engine: Engine) -> None:
        if engine.global_step < self.steps:
            for group in engine.optimizer.param_groups:
                group["lr"] = self.peak * (engine.global_step + 1) / self.steps
        self.then.start_step(engine)

    def start_epoch(self, engine: Engine) -> None:
        self.then.start_epoch(engine)

    def end_epoch(self, engine: Engine, record: dict) -> None:
        self.then.end_epoch(engine, record)

    def state_dict(self) -> dict:
        return dict(then=self.then.state_dict(), steps=self.steps, peak=self.peak)

    def load_state_dict(self, state: dict) -> None:
        self.then.load_state_dict(state["then"])
        self.steps, self.peak = state["steps"], state["peak"]


# ----------------------------------------------------------------------------------------------- stop rules


class MaxEpochs:
    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def __call__(self, engine: Engine) -> str | None:
        return "max_epochs" if engine.epoch >= self.epochs else None


class TargetError:
    """Stop once an epoch's ``metric`` is at or below ``target``."""

    def __init__(self, target: float, metric: str = "train_error") -> None:
        self.target, self.metric = target, metric

    def __call__(self, engine: Engine) -> str | None:
        reached = engine.records and engine.records[-1][self.metric] <= self.target
        return "target" if reached else None


class NoLaterThan:
    """Stop after ``epochs`` epochs because finishing later could not beat a run that already did (pruning)."""

    def __init__(self, epochs: int | None) -> None:
        self.epochs = epochs

    def __call__(self, engine: Engine) -> str | None:
        return "pruned" if self.epochs is not None and engine.epoch >= self.epochs else None
