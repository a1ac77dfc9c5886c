"""Triton kernels (forward and backward) for AlexNet's layers, each with a plain-PyTorch fallback.

- :func:`lrn` / :class:`LocalResponseNorm`: cross-channel Local Response Normalization (paper, section 3.3).
- :func:`max_pool2d` / :class:`MaxPool2d`: max pooling, overlapping 3x3 stride 2 by default (section 3.4).
- :func:`relu_lrn_max_pool2d` / :class:`ReLULRNMaxPool2d`: the three fused, as after conv1 and conv2.
"""

from ._dispatch import BACKENDS, backend_for
from .fused import ReLULRNMaxPool2d, relu_lrn_max_pool2d
from .lrn import LocalResponseNorm, lrn
from .maxpool import MaxPool2d, max_pool2d

__all__ = ["BACKENDS", "backend_for", "lrn", "LocalResponseNorm", "max_pool2d", "MaxPool2d", "relu_lrn_max_pool2d",
           "ReLULRNMaxPool2d"]
