"""Conformance checks for any LRN, max-pooling or fused ReLU -> LRN -> max-pool implementation.

The lab grades its own kernels with these checks (``tests/kernels/test_conformance.py``), and anyone can grade
theirs the same way::

    report = kernels.testing.check_lrn(my_lrn)
    print(report)            # one row per check: pass/FAIL, max error, tolerance; a reproducer per failure
    assert report.passed

Every check compares against an independent float64 oracle (``kernels.reference``: the formulas written out
literally, gradients by autograd), runs every case even after a failure, and never raises: an exception from
the implementation is a failed check with its message. :class:`NotAttempted` marks the whole report "not
attempted" (the workshop's untouched skeletons raise it).

The callables take the lab's signatures (keyword arguments as named here):

* ``lrn(x, size, alpha, beta, k, alpha_over_size=False) -> y``, x: (N, C, H, W) or (N, C, L)
* ``max_pool2d(x, kernel_size, stride, return_indices=False) -> y`` or ``(y, indices)``, indices ``h * W + w``
* ``relu_lrn_max_pool2d(x, size, alpha, beta, k, alpha_over_size=False) -> y``, pooling 3x3 with stride 2
"""

from ._harness import TOLERANCES, CheckResult, NotAttempted, Report, describe, first_line, make_input
from .fused import check_relu_lrn_max_pool2d, fused_checks
from .lrn import check_lrn, lrn_checks
from .pooling import check_max_pool2d, max_pool2d_checks

__all__ = ["NotAttempted", "check_lrn", "check_max_pool2d", "check_relu_lrn_max_pool2d", "check_names", "Report",
           "CheckResult", "make_input", "describe", "first_line", "TOLERANCES"]  # fmt: skip


def check_names(op: str, alpha_over_size: bool | None = None) -> list[str]:
    """The names of an op's checks, in the order they run (for parametrizing tests and ``only=``)."""
    if op == "max_pool2d":
        return list(max_pool2d_checks(None, "cpu"))
    if op not in ("lrn", "relu_lrn_max_pool2d"):
        raise ValueError(f"op must be 'lrn', 'max_pool2d' or 'relu_lrn_max_pool2d', got {op!r}")
    builder = lrn_checks if op == "lrn" else fused_checks
    return list(builder(None, alpha_over_size, "cpu"))
