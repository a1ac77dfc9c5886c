"""What training measures and writes: top-k error, the metrics files of a run, evaluation on a data set, and the
Trainer's engine hooks that record them (per step, per epoch) and write its checkpoints."""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import EpochLoader, ten_crops
from .files import atomic_write_text
from .model import input_size_of

if TYPE_CHECKING:
    from .engine import Engine, StepOutput
    from .train import Trainer


def topk_errors(logits: torch.Tensor, labels: torch.Tensor, ks: Iterable[int] = (1, 5)) -> dict[int, float]:
    """Fraction of samples whose label is not among the k highest logits, for each k (capped at the classes)."""
    ranked = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hits = ranked == labels[:, None]
    return {k: 1.0 - hits[:, :k].any(dim=1).float().mean().item() for k in ks}


class MetricsLog:
    """Appends records to ``metrics.jsonl`` (everything) and ``epochs.csv`` (one row per epoch) in ``log_dir``."""

    EPOCH_FIELDS = ("epoch", "step", "lr", "train_loss", "train_top1_err", "val_loss", "val_top1_err",
                    "val_top5_err", "epoch_seconds", "skipped_images")  # fmt: skip

    def __init__(self, log_dir: str | Path | None) -> None:
        self.dir = Path(log_dir) if log_dir else None
        if self.dir:
            self.dir.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict) -> None:
        if not self.dir:
            return
        with (self.dir / "metrics.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")
        if record.get("kind") == "epoch":
            path = self.dir / "epochs.csv"
            new = not path.exists()
            with path.open("a", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=self.EPOCH_FIELDS, extrasaction="ignore")
                if new:
                    writer.writeheader()
                writer.writerow(record)

    def truncate(self, epoch: int, step: int) -> None:
        """Drop what was logged after a checkpoint at (``epoch`` epochs done, ``step`` steps): a run killed after
        writing a row but before its checkpoint replays those steps on resume and logs them again."""
        if not self.dir:
            return
        jsonl = self.dir / "metrics.jsonl"
        if jsonl.is_file():
            kept = []
            for line in jsonl.read_text().splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by the kill
                    continue
                if (record.get("kind") == "epoch" and record["epoch"] < epoch) or (
                    record.get("kind") != "epoch" and record.get("step", 0) <= step
                ):
                    kept.append(line + "\n")
            atomic_write_text(jsonl, "".join(kept))
        table = self.dir / "epochs.csv"
        if table.is_file():
            lines = table.read_text().splitlines(keepends=True)
            rows = [line for line in lines[1:] if line.strip() and int(line.split(",", 1)[0]) < epoch]
            atomic_write_text(table, "".join(lines[:1] + rows))


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset,
    *,
    ten_crop: bool = False,
    batch_size: int = 128,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    max_batches: int | None = None,
    progress: bool = False,
) -> dict:
    """Loss and top-1/top-5 error of ``model`` on ``dataset`` (pairs of prepared image and label).

    ``ten_crop``: average the softmax over the paper's ten crops (the data set must then yield the full 256x256
    image: its transform's crop equal to the image size; the crops are taken here). ``device``: where the
    batches go (default: the model's first parameter's device). The model is left in eval mode.
    """
    from tqdm.auto import tqdm

    model.eval()
    if device is None:
        device = next(model.parameters()).device
    loader = EpochLoader(dataset, batch_size, shuffle=False, num_workers=num_workers)
    crop = input_size_of(model)
    total_loss, errors, count = 0.0, {1: 0.0, 5: 0.0}, 0
    batches = loader.epoch(0)
    if progress:
        total = math.ceil(len(dataset) / batch_size)
        total = total if max_batches is None else min(total, max_batches)
        batches = tqdm(batches, total=total, desc="validating", unit="batch", leave=False)
    for i, (x, y) in enumerate(batches):
        if max_batches is not None and i >= max_batches:
            break
        x, y = x.to(device), y.to(device)
        if ten_crop:
            crops = torch.stack([ten_crops(img, crop) for img in x])  # (N, 10, 3, c, c)
            probs = F.softmax(model(crops.flatten(0, 1)), dim=1).view(len(x), 10, -1).mean(1)
            logits = probs.log()
        else:
            logits = model(x)
        total_loss += F.cross_entropy(logits.float(), y, reduction="sum").item()
        for k, err in topk_errors(logits, y).items():
            errors[k] += err * len(y)
        count += len(y)
    if count == 0:
        raise ValueError("evaluate: the data set yielded no images")
    return dict(loss=total_loss / count, top1_err=errors[1] / count, top5_err=errors[5] / count, images=count)


class TrainerMetrics:
    """An engine hook, the Trainer's measurements: a record per step (loss, top-1/top-5 error on the batch,
    averaged over the processes), the epoch's means, and the validation at each epoch's end; logged to
    ``metrics.jsonl``."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.stats = self._fresh()

    @staticmethod
    def _fresh() -> dict:
        return dict(loss=0.0, errors=0.0, count=0, start=time.perf_counter())

    def on_step(self, engine: Engine, out: StepOutput) -> None:
        trainer, y = self.trainer, out.y
        errors = topk_errors(out.logits, y)
        reduced = trainer.strategy.reduce({"loss": out.loss.item(), "top1": errors[1], "top5": errors[5]})
        loss, top1 = torch.tensor(reduced["loss"]).item(), reduced["top1"]
        self.stats["loss"] += loss * len(y)
        self.stats["errors"] += top1 * len(y)
        self.stats["count"] += len(y)
        record = dict(
            kind="step", epoch=engine.epoch, step=engine.global_step, loss=loss, top1_err=top1,
            top5_err=reduced["top5"], lr=engine.lr, images_per_s=len(y) / out.seconds,
        )  # fmt: skip
        trainer.history.append(record)
        if engine.global_step % trainer.config.log_every == 0:
            trainer.log.write(record)

    def on_epoch_end(self, engine: Engine, record: dict) -> None:
        trainer, stats = self.trainer, self.stats
        count = max(stats["count"], 1)
        record.update(
            kind="epoch", epoch=engine.epoch, step=engine.global_step, lr=engine.lr, train_loss=stats["loss"] / count,
            train_top1_err=stats["errors"] / count, epoch_seconds=time.perf_counter() - stats["start"],
            skipped_images=trainer.loader.skipped,
        )  # fmt: skip
        if trainer.val_set is not None:
            val = trainer.evaluate(max_batches=trainer.config.eval_batches, progress=trainer._progress)
            record.update(val_loss=val["loss"], val_top1_err=val["top1_err"], val_top5_err=val["top5_err"])

    def after_epoch(self, engine: Engine, record: dict) -> None:
        self.trainer.log.write(record)
        self.stats = self._fresh()

    def state_dict(self) -> dict:
        return {k: v for k, v in self.stats.items() if k != "start"}

    def load_state_dict(self, state: dict) -> None:
        self.stats = dict(state, start=time.perf_counter())


class EpochCheckpoints:
    """After every epoch: the checkpoint to ``log_dir`` (distributed: every rank gathers, rank 0 writes)."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer

    def after_epoch(self, engine: Engine, record: dict) -> None:
        trainer = self.trainer
        if trainer.log_dir or trainer.strategy.collective:
            trainer.save_checkpoint(trainer.log_dir / "checkpoint.pt" if trainer.log_dir else None)
