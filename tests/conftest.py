"""Test-wide set-up.

Triton reads TRITON_INTERPRET when a ``@triton.jit`` function is *defined*, so it is set here, before any test
module imports ``kernels``. On a machine with a CUDA GPU the compiled kernels are tested instead.
"""

import importlib.util
import os
import sys
from pathlib import Path

# Under pytest-xdist each worker gets its share of the cores (and so do the processes its tests start), so that
# the workers' thread pools do not fight over them.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))

import torch  # noqa: E402

os.environ.setdefault("MPLBACKEND", "Agg")  # figures are drawn, never shown

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


def load_script(path: Path):
    """Import a script that is not in a package (``benchmarks/*.py``) as a module named after its file."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def pytest_addoption(parser):
    group = parser.getgroup("alexnet-lab kernels")
    for op in ("lrn", "pool", "fused"):
        group.addoption(
            f"--{op}-impl", metavar="MODULE:FUNCTION", default=None,
            help=f"run the {op} conformance tests (tests/kernels/test_conformance.py) on this callable instead of "
            "the lab's kernel, and only those (e.g. tests.kernels.torch_impls:lrn, or solutions.lrn_forward:lrn)",
        )  # fmt: skip
