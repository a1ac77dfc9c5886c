"""Test-wide set-up.

Triton reads TRITON_INTERPRET when a ``@triton.jit`` function is *defined*, so it is set here, before any test
module imports ``kernels``. On a machine with a CUDA GPU the compiled kernels are tested instead.
"""

import os

import torch

os.environ.setdefault("MPLBACKEND", "Agg")  # figures are drawn, never shown

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
