"""One training loop for every way the lab trains: the CLI and the dashboard (:class:`alexnet.train.Trainer`), the
Figure 1 search and the LRN/overlap study.

The loop is always the same: take a mini-batch, forward, cross-entropy, stop if the loss is not finite, backward,
step. What differs between experiments is passed in as small objects, never as branches in the loop:

* ``batches``: where mini-batches come from. :class:`alexnet.data.EpochLoader` (image folders, any data set),
  ``DeviceJPEGLoader`` (JPEGs decoded on the GPU) or :class:`TensorBatches` (uint8 images already on the device,
  with the experiment's crops and flips). Each has ``epoch(epoch, start_step)`` and ``steps(epoch)``.
* ``schedule``: how the learning rate moves (:mod:`alexnet.schedules`: constant, the paper's plateau rule,
  cuda-convnet's fixed phases, a warm-up before any of them).
* ``stop``: when :meth:`Engine.fit` ends (:mod:`alexnet.schedules`: a number of epochs, a target error, pruning);
  the interactive ``Trainer`` steps the engine itself instead.
* ``hooks``: everything else, at each step and epoch end (metrics, validation, layer statistics, state files,
  progress bars, live plots): any object with some of ``on_step(engine, out)``, ``on_epoch_end(engine, record)``
  (fill the epoch's record) and ``after_epoch(engine, record)`` (the record is kept and the epoch counted).
* ``parallel``: an :mod:`alexnet.parallel` strategy (one device by default; DDP, columns or hybrid under torchrun).

Every random draw of an epoch comes from :func:`epoch_generator` ``(seed, epoch)``: a run resumed at an epoch's
start, or at any step of an epoch for the loaders that can skip, sees exactly what the uninterrupted run saw.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F

from .schedules import ConstantLR

if TYPE_CHECKING:
    from .parallel import Strategy


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's draws (order, crops, flips) in a run seeded ``seed``: distinct for every pair."""
    return seed * 1_000_003 + epoch


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator seeded with :func:`epoch_seed`."""
    return torch.Generator().manual_seed(epoch_seed(seed, epoch))


class Diverged(FloatingPointError):
    """The loss stopped being a finite number; no update was made with it."""


@dataclass
class StepOutput:
    """One step's batch as trained on (after sharding), its results (detached) and the seconds it took."""

    x: torch.Tensor
    y: torch.Tensor
    logits: torch.Tensor
    loss: torch.Tensor
    seconds: float


# ----------------------------------------------------------------------------------------------- batches


class TensorBatches:
    """Mini-batches of uint8 images (N, 3, H, W) kept on the training device: no DataLoader, no host transfer.

    Epoch ``e`` (counted from 0) shuffles the first ``size(e)`` images with ``epoch_generator(seed, e + 1)`` (the
    experiments' records number epochs from 1) and passes each batch of images through ``prepare(images, gen)``,
    which may draw its crops and flips from the same generator, after the order.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, *, seed: int,
                 prepare: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
                 size: Callable[[int], int] | None = None) -> None:  # fmt: skip
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.images, self.labels, self.batch_size, self.seed = images, labels, batch_size, seed
        self.prepare = prepare
        self.size = size or (lambda epoch: len(images))

    def steps(self, epoch: int) -> int:
        return math.ceil(self.size(epoch) / self.batch_size)

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if start_step:
            raise ValueError("TensorBatches resume at an epoch's start only (their draws are sequential)")
        gen = epoch_generator(self.seed, epoch + 1)
        order = torch.randperm(self.size(epoch), generator=gen).to(self.images.device)
        for first in range(0, len(order), self.batch_size):
            index = order[first : first + self.batch_size]
            yield self.prepare(self.images[index], gen), self.labels[index]


# ----------------------------------------------------------------------------------------------- hooks


class Tally:
    """The epoch's training error and mean loss, summed on the device (no host sync per step)."""

    def __init__(self) -> None:
        self.wrong = self.loss = None
        self.count = 0

    def on_step(self, engine: Engine, out: StepOutput) -> None:
        if self.wrong is None:
            self.wrong = torch.zeros((), device=out.y.device)
            self.loss = torch.zeros((), device=out.y.device)
        self.wrong += (out.logits.argmax(1) != out.y).sum()
        self.loss += out.loss * len(out.y)
        self.count += len(out.y)

    def on_epoch_end(self, engine: Engine, record: dict) -> None:
        record.update(train_error=self.wrong.item() / self.count, train_loss=self.loss.item() / self.count)
        self.wrong = self.loss = None
        self.count = 0


class EpochClock:
    """Records the epoch's number (from 1) and its seconds under ``key``."""

    def __init__(self, key: str = "seconds") -> None:
        self.key, self.start = key, time.perf_counter()

    def on_epoch_end(self, engine: Engine, record: dict) -> None:
        record.update(epoch=engine.epoch + 1)
        record[self.key] = time.perf_counter() - self.start

    def after_epoch(self, engine: Engine, record: dict) -> None:
        self.start = time.perf_counter()


class ProgressBar:
    """A tqdm bar of epochs; ``postfix(record)`` gives what it shows after each."""

    def __init__(self, total: int, initial: int, desc: str, postfix: Callable[[dict], dict], *, enabled: bool = True,
                 leave: bool = True) -> None:  # fmt: skip
        from tqdm.auto import tqdm

        self.postfix = postfix
        self.bar = tqdm(total=total, initial=initial, desc=desc, unit="epoch", disable=not enabled, leave=leave)

    def after_epoch(self, engine: Engine, record: dict) -> None:
        self.bar.update(1)
        self.bar.set_postfix(self.postfix(record))

    def close(self, finished: bool = False) -> None:
        """``finished``: the run ended as planned before its last epoch (a target reached, pruned): the bar is
        filled, so that a notebook draws it as done, not as a failure."""
        if finished and self.bar.total is not None:
            self.bar.total = self.bar.n
            self.bar.refresh()
        self.bar.close()


# ----------------------------------------------------------------------------------------------- the loop


class Engine:
    """Trains ``model`` with ``optimizer`` on ``batches``: ``step()`` one mini-batch, ``run_epoch()`` one epoch,
    ``fit(stop)`` epochs until a stop rule fires.

    Progress: ``epoch`` (epochs finished), ``step_in_epoch``, ``global_step``; ``records`` holds one dict per
    finished epoch, filled by the hooks. ``rng``: a context manager factory every step runs in (the Trainer's
    private random stream for dropout). :meth:`state_dict` / :meth:`load_state_dict` cover everything above plus
    the weights, the optimizer and the schedule, so a run resumes exactly from an epoch's end.

    ``autocast``: a lower precision for the forward pass (``torch.bfloat16``: matrix products in bf16, the loss
    and the weights in fp32); ``label_smoothing``: the cross-entropy's (0: the paper's plain cross-entropy).
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, batches, *, schedule=None, hooks=(),
                 parallel: Strategy | None = None, rng: Callable[[], contextlib.AbstractContextManager] | None = None,
                 autocast: torch.dtype | None = None, label_smoothing: float = 0.0) -> None:  # fmt: skip
        self.model, self.optimizer, self.batches = model, optimizer, batches
        self.autocast, self.label_smoothing = autocast, label_smoothing
        self.schedule = schedule or ConstantLR()
        self.hooks = list(hooks)
        if parallel is None:
            from .parallel import Strategy

            parallel = Strategy(next(model.parameters()).device)
        self.parallel = parallel
        self.rng = rng or contextlib.nullcontext
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.records: list[dict] = []
        self.stopped: str | None = None  # which stop rule ended fit()
        self.elapsed_before = 0.0  # seconds spent before a resume
        self._started = time.perf_counter()
        self._batches: Iterator | None = None

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    @property
    def steps_per_epoch(self) -> int:
        return self.batches.steps(self.epoch)

    @property
    def wall_s(self) -> float:
        """Seconds of training, across resumes."""
        return self.elapsed_before + time.perf_counter() - self._started

    def _hooks(self, method: str, *args) -> None:
        for hook in self.hooks:
            if hasattr(hook, method):
                getattr(hook, method)(self, *args)

    def _next_batch(self):
        if self._batches is None:
            if self.step_in_epoch == 0:
                self.schedule.start_epoch(self)
            self._batches = self.batches.epoch(self.epoch, self.step_in_epoch)
        return next(self._batches, None)

    def step(self) -> StepOutput:
        """One update on the next mini-batch; the epoch ends (``end_epoch``) right after its last batch."""
        batch = self._next_batch()
        if batch is None:  # fewer batches than planned (a data set lost images): the epoch is over
            self.end_epoch()
            batch = self._next_batch()
            if batch is None:
                raise RuntimeError("the training set yields no batches (every image unreadable?)")
        start = time.perf_counter()
        x, y = self.parallel.shard(*batch)
        device = self.parallel.device
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        self.model.train()
        self.schedule.start_step(self)
        with self.rng():
            logits, loss = self._update(x, y)
        self.step_in_epoch += 1
        self.global_step += 1
        out = StepOutput(x, y, logits.detach(), loss.detach(), time.perf_counter() - start)
        self._hooks("on_step", out)
        if self.step_in_epoch >= self.steps_per_epoch:
            self.end_epoch()
        return out

    def _update(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(x.device.type, dtype=self.autocast or torch.float32, enabled=self.autocast is not None):
            logits = self.model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=self.label_smoothing)  # the mini-batch mean
        if not torch.isfinite(loss):
            raise Diverged(f"the loss became {loss.item()} at step {self.global_step} (lr {self.lr:g}, batch "
                           f"{len(y)}): training diverged; lower the learning rate (e.g. by 10x)")  # fmt: skip
        self.optimizer.zero_grad(set_to_none=True)
        (loss * self.parallel.loss_scale).backward()
        self.parallel.finish_gradients([p for group in self.optimizer.param_groups for p in group["params"]])
        self.optimizer.step()
        return logits, loss

    def end_epoch(self) -> dict:
        """Close the epoch: the hooks fill its record, the schedule sees it, then it is kept and counted."""
        record: dict = {}
        self._hooks("on_epoch_end", record)
        self.schedule.end_epoch(self, record)
        self.records.append(record)
        self.epoch += 1
        self.step_in_epoch = 0
        self.reset_batches()
        self._hooks("after_epoch", record)
        return record

    def reset_batches(self) -> None:
        """Take the next batch from the data plan at (``epoch``, ``step_in_epoch``): after a change of position."""
        self._batches = None

    def run_epoch(self) -> dict:
        epoch = self.epoch
        while self.epoch == epoch:
            self.step()
        return self.records[-1]

    def fit(self, *stop: Callable[[Engine], str | None]) -> str:
        """Epochs until one of the ``stop`` rules (checked in order before each epoch) names a reason; returns it."""
        while True:
            self.stopped = next((reason for rule in stop if (reason := rule(self))), None)
            if self.stopped:
                return self.stopped
            self.run_epoch()

    def state_dict(self) -> dict:
        progress = dict(epoch=self.epoch, step_in_epoch=self.step_in_epoch, global_step=self.global_step)
        return dict(model=self.model.state_dict(), optimizer=self.optimizer.state_dict(),
                    schedule=self.schedule.state_dict(), records=self.records, wall_s=self.wall_s,
                    progress=progress)  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.records = list(state["records"])
        self.elapsed_before, self._started = state["wall_s"], time.perf_counter()
        progress = state["progress"]
        self.epoch, self.step_in_epoch, self.global_step = (progress["epoch"], progress["step_in_epoch"],
                                                            progress["global_step"])  # fmt: skip
        self.reset_batches()


class StateFile:
    """Saves the engine's state (and ``extra()``) to ``path`` after every epoch, under ``key``; :meth:`restore`
    loads a state saved under the same key (another run's, or a file cut short, is ignored: the run starts over).
    """

    def __init__(self, path, key: dict, extra: Callable[[], dict] | None = None) -> None:
        self.path, self.key, self.extra = path, key, extra or dict

    def restore(self, engine: Engine) -> dict | None:
        saved = self.load()
        if saved is None:
            return None
        engine.load_state_dict(saved["engine"])
        return saved

    def load(self) -> dict | None:
        """The saved state when it is this very run's, else None (no file, another run's, or cut short)."""
        if self.path is None or not Path(self.path).is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception:  # a state cut short: start the run over
            return None
        return state if state.get("key") == self.key and "engine" in state else None

    def after_epoch(self, engine: Engine, record: dict) -> None:
        if self.path is not None:
            from .files import atomic_save

            atomic_save(dict(key=self.key, engine=engine.state_dict(), **self.extra()), self.path)
