"""Test-wide set-up.

Triton reads TRITON_INTERPRET when a ``@triton.jit`` function is *defined*, so it is set here, before any test
module imports ``kernels``. On a machine with a CUDA GPU the compiled kernels are tested instead.
"""

import importlib.util
import os
import sys
from pathlib import Path

import torch

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
