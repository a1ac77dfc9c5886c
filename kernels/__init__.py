"""Triton kernels for AlexNet's layers: Local Response Normalization (more to come)."""

from .lrn import LocalResponseNorm, lrn

__all__ = ["lrn", "LocalResponseNorm"]
