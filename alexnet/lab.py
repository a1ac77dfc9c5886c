"""The notebooks' shared setup: ``lab = alexnet.lab.setup()`` in the first cell of every notebook.

Importing this module does not import ``kernels`` (nor does ``import alexnet``: its names load on first use), so
``setup(triton_on_cpu=True)`` can still ask for Triton's CPU interpreter, which must be chosen before the first
``@triton.jit`` function is defined.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ._allocator import keep_freed_memory


@dataclass(frozen=True)
class Lab:
    """What a notebook needs to know about where it runs."""

    fast: bool  # ALEXNET_LAB_FAST=1 (set by the test suite): keep every run tiny
    device: str  # "cuda" when there is a GPU, else "cpu"
    shared: Path  # the lab's real data (../shared/data next to the repository), when it is there
    results: Path  # the repository's committed results (benchmarks/results)
    freed_memory_kept: bool = False  # glibc keeps what a training step frees (alexnet/_allocator.py)

    @property
    def cifar10(self) -> Path | None:
        """The lab's CIFAR-10 zip, or None on a machine without the shared data."""
        path = self.shared / "cifar10-jpg.zip"
        return path if path.is_file() else None

    @property
    def imagenet_samples(self) -> Path | None:
        """The lab's 1,000 ImageNet images (zip), or None."""
        path = self.shared / "imagenet-samples-256.zip"
        return path if path.is_file() else None


def setup(*, triton_on_cpu: bool = False, verbose: bool = True) -> Lab:
    """Read the notebook's surroundings (run from ``labs/``) and print one line about them.

    ``triton_on_cpu``: without a GPU, run the Triton kernels through Triton's interpreter (sets
    ``TRITON_INTERPRET=1`` unless it is set already); call it before anything imports ``kernels``.
    ``ALEXNET_LAB_DATA`` overrides where the shared data are looked for. Like the training commands, it has glibc
    keep the memory a training step frees (``alexnet/_allocator.py``: the same numbers, 1.1-1.3x faster steps on
    a CPU; the kernel process holds its peak memory instead of returning it between steps).
    """
    here = Path.cwd().resolve()
    shared = Path(os.environ.get("ALEXNET_LAB_DATA") or here.parent.parent / "shared" / "data")
    lab = Lab(
        fast=os.environ.get("ALEXNET_LAB_FAST") == "1",
        device="cuda" if torch.cuda.is_available() else "cpu",
        shared=shared,
        results=here.parent / "benchmarks" / "results",
        freed_memory_kept=keep_freed_memory(),
    )
    if triton_on_cpu and lab.device == "cpu":
        os.environ.setdefault("TRITON_INTERPRET", "1")
    if verbose:
        print(f"fast mode: {lab.fast}, device: {lab.device}, shared data: {shared.is_dir()}")
    return lab
