"""Batches that resume exactly: every (epoch, position) has its own seed, whatever the number of workers."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator

import torch

from ..engine import epoch_generator
from .datasets import ImageFolder
from .transforms import Preprocess


class EpochLoader:
    """Batches for one epoch at a time, in an order fixed by (seed, epoch), resumable at any batch.

    Every sample also gets a seed for its augmentation, drawn from the same generator, so a run interrupted at
    batch k and resumed there sees exactly the batches it would have seen. Unreadable images (None items) are
    dropped from their batch and counted in ``skipped``.
    """

    def __init__(
        self, dataset, batch_size: int, *, shuffle: bool = True, seed: int = 0, num_workers: int = 0,
        drop_last: bool = False,
    ) -> None:  # fmt: skip
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if len(dataset) == 0:
            raise ValueError("EpochLoader: the data set is empty")
        self.dataset, self.batch_size, self.shuffle, self.seed = dataset, batch_size, shuffle, seed
        self.num_workers, self.drop_last = num_workers, drop_last
        self.skipped = 0

    def steps(self, epoch: int) -> int:
        """Batches in ``epoch`` (the same in every epoch)."""
        return len(self)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def plan(self, epoch: int) -> list[tuple[list[int], list[int]]]:
        """(indices, per-sample seeds) of every batch of ``epoch``."""
        gen = epoch_generator(self.seed, epoch)
        n = len(self.dataset)
        order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
        seeds = torch.randint(0, 2**62, (n,), generator=gen)
        batches = []
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[start : start + self.batch_size]
            batches.append((idx.tolist(), seeds[start : start + self.batch_size].tolist()))
        return batches

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        batches = self.plan(epoch)[start_batch:]
        if hasattr(self.dataset, "get_batch"):
            for indices, seeds in batches:
                yield self.dataset.get_batch(indices, seeds)
            return
        keyed = [list(zip(indices, seeds)) for indices, seeds in batches]
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_sampler=keyed, num_workers=self.num_workers, collate_fn=self._collate,
            persistent_workers=False,
        )  # fmt: skip
        for x, y, skipped in loader:
            self.skipped += skipped
            if y.numel():
                yield x, y

    @staticmethod
    def _collate(items):
        # Runs in the worker: the count of dropped items travels back with the batch.
        good = [item for item in items if item is not None]
        if not good:
            return torch.empty(0), torch.empty(0, dtype=torch.long), len(items)
        return torch.stack([x for x, _ in good]), torch.tensor([y for _, y in good]), len(items) - len(good)


def train_loader(train_set, batch_size: int, device: torch.device, *, seed: int, num_workers: int = 0):
    """The training batches: decoded and augmented on the GPU for image folders on CUDA (PIL on a few CPU cores
    cannot feed AlexNet there), by :class:`EpochLoader` otherwise. Both serve the same plan per epoch."""
    if device.type == "cuda" and isinstance(train_set, ImageFolder) and isinstance(train_set.transform, Preprocess):
        from ..device_data import DeviceJPEGLoader

        try:
            return DeviceJPEGLoader(train_set, batch_size, device=device, seed=seed)
        except RuntimeError as err:  # no torchvision: decode with PIL
            warnings.warn(f"decoding with PIL on the CPU: {err}", stacklevel=2)
    return EpochLoader(train_set, batch_size, shuffle=True, seed=seed, num_workers=num_workers)
