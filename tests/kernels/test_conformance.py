"""The conformance checks of ``kernels.testing``, one test per check, on the lab's kernels or on yours.

    pytest tests/kernels/test_conformance.py                                  # the lab's kernels, every backend
    pytest tests/kernels --lrn-impl=tests.kernels.torch_impls:lrn             # any callable with the lab's signature

Each test prints the check's report row and, when it fails, a reproducer.
"""

import pytest

from kernels import testing


def _assert_passes(report):
    assert report.attempted, str(report)
    assert report.passed, f"\n{report}"


@pytest.mark.parametrize("check", testing.check_names("lrn"))
def test_lrn(lrn_impl, check):
    _assert_passes(testing.check_lrn(lrn_impl.fn, device=lrn_impl.device, only=[check]))


@pytest.mark.parametrize("check", testing.check_names("max_pool2d"))
def test_max_pool2d(pool_impl, check):
    _assert_passes(testing.check_max_pool2d(pool_impl.fn, device=pool_impl.device, only=[check]))


@pytest.mark.parametrize("check", testing.check_names("relu_lrn_max_pool2d"))
def test_relu_lrn_max_pool2d(fused_impl, check):
    _assert_passes(testing.check_relu_lrn_max_pool2d(fused_impl.fn, device=fused_impl.device, only=[check]))
