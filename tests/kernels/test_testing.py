"""kernels.testing discriminates: each known defect fails the checks that name it, and only those."""

import functools

import pytest
import torch
import torch.nn.functional as F

import kernels
from kernels import testing

from . import torch_impls

LAB_LRN = functools.partial(kernels.lrn, backend="torch")
BACKWARD_CHECKS = {name for name in testing.check_names("lrn") if name.startswith("backward") or name == "gradcheck"}


class _ScaledBackward(torch.autograd.Function):
    """The identity forward, the incoming gradient times 1.01 backward: a subtly wrong gradient."""

    @staticmethod
    def forward(y):
        return y.view_as(y)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, dy):
        return dy * 1.01


def lrn_with_backward_off_by_one_percent(x, size, alpha, beta, k, alpha_over_size=False):
    return _ScaledBackward.apply(LAB_LRN(x, size, alpha, beta, k, alpha_over_size=alpha_over_size))


def test_the_labs_kernels_pass_every_check():
    for report in (testing.check_lrn(LAB_LRN), testing.check_max_pool2d(functools.partial(kernels.max_pool2d,
                   backend="torch")), testing.check_relu_lrn_max_pool2d(functools.partial(
                   kernels.relu_lrn_max_pool2d, backend="torch"))):  # fmt: skip
        assert report.passed, str(report)
        assert "checks pass" in str(report).splitlines()[0] and "FAIL" not in str(report)


def test_a_backward_one_percent_off_fails_the_backward_checks_only():
    report = testing.check_lrn(lrn_with_backward_off_by_one_percent)
    # bf16 carries 8 significant bits: its tolerance (1.6%) cannot see a 1% error, every other backward check can.
    assert set(report.failed) == BACKWARD_CHECKS - {"backward bf16"}
    text = str(report)
    assert "FAIL backward fp64: outside the tolerance" in text
    assert "dx, = torch.autograd.grad(fn(x, " in text  # the reproducer


def test_pytorchs_lrn_passes_once_its_alpha_convention_is_converted_and_the_report_says_why_otherwise():
    assert testing.check_lrn(torch_impls.lrn).passed
    assert testing.check_lrn(torch_impls.lrn_unconverted, alpha_over_size=True).passed
    report = testing.check_lrn(torch_impls.lrn_unconverted)
    assert "forward fp64" in report.failed and "forward, alpha / size" not in report.failed
    assert "matches the other convention, alpha divided by size" in str(report)


class _TieScatter(torch.autograd.Function):
    """Max pooling whose backward adds each window's gradient to every cell equal to the window's maximum."""

    @staticmethod
    def forward(x, kernel_size, stride):
        return F.max_pool2d(x, kernel_size, stride)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, ctx.kernel_size, ctx.stride = inputs
        ctx.save_for_backward(x, output)

    @staticmethod
    def backward(ctx, dy):
        x, out = ctx.saved_tensors
        k, s = ctx.kernel_size, ctx.stride
        dx = torch.zeros_like(x)
        for oh in range(out.shape[-2]):
            for ow in range(out.shape[-1]):
                window = (..., slice(oh * s, oh * s + k), slice(ow * s, ow * s + k))
                best = out[..., oh : oh + 1, ow : ow + 1]
                dx[window] += (x[window] == best).to(dx.dtype) * dy[..., oh : oh + 1, ow : ow + 1]
        return dx, None, None


def scatter_to_every_tied_cell(x, kernel_size, stride, return_indices=False):
    if return_indices:
        return F.max_pool2d(x, kernel_size, stride, return_indices=True)
    return _TieScatter.apply(x, kernel_size, stride)


def test_a_pool_that_sends_the_gradient_to_every_tied_cell_fails_the_ties_check_only():
    report = testing.check_max_pool2d(scatter_to_every_tied_cell)
    assert report.failed == ["backward, ties: only the first maximum"], str(report)


def test_an_implementation_that_raises_fails_each_check_with_its_message_and_the_rest_still_run():
    def half_only_breaks(x, size, alpha, beta, k, alpha_over_size=False):
        if x.dtype == torch.float16:
            raise RuntimeError("no fp16 here\nsecond line")
        return LAB_LRN(x, size, alpha, beta, k, alpha_over_size=alpha_over_size)

    report = testing.check_lrn(half_only_breaks)
    assert report.failed == ["forward fp16", "backward fp16"]
    assert "raised RuntimeError: no fp16 here" in str(report) and "second line" not in str(report)


def test_an_untouched_skeleton_is_not_attempted_rather_than_failed():
    def skeleton(*args, **kwargs):
        raise testing.NotAttempted("fill in the TODO region of lrn_forward_kernel")

    report = testing.check_lrn(skeleton)
    assert not report.attempted and not report.passed
    message = "not attempted yet: fill in the TODO region of lrn_forward_kernel"
    assert str(report) == f"lrn ({skeleton.__qualname__}): {message}"


def test_only_runs_the_named_checks_and_names_unknown_ones():
    report = testing.check_lrn(LAB_LRN, only=["gradcheck"])
    assert [r.check for r in report.results] == ["gradcheck"] and report.passed
    with pytest.raises(ValueError, match=r"only: unknown check\(s\) \['forwards'\]"):
        testing.check_lrn(LAB_LRN, only=["forwards"])


def test_a_wrong_shape_or_a_non_tensor_is_a_failure_that_says_so():
    report = testing.check_lrn(lambda x, *args, **kwargs: x.flatten(), only=["forward fp64"])
    assert "returned shape" in report.results[0].detail
    report = testing.check_max_pool2d(lambda x, k, s, return_indices=False: [1], only=["forward fp64"])
    assert "returned list, expected a tensor" in report.results[0].detail


def test_the_reproducer_reruns_the_failing_case():
    report = testing.check_lrn(torch_impls.lrn_unconverted, only=["forward fp32"])
    lines = report.results[0].reproducer.splitlines()
    assert len(lines) == 3
    namespace = dict(torch=torch, kernels=kernels, fn=torch_impls.lrn_unconverted)
    exec(lines[0] + "\n" + lines[1], namespace)  # x = ...; y = fn(...)
    size, alpha, beta, k = eval(lines[1].split("fn(x, ")[1].rstrip(")"))
    expected = kernels.reference.lrn_reference(namespace["x"].double(), size, alpha, beta, k)
    assert not torch.allclose(namespace["y"].double(), expected, rtol=1e-5, atol=1e-6)


def _pytest(*args):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/kernels", *args],
                          cwd=root, capture_output=True, text=True, timeout=600)  # fmt: skip


@pytest.mark.slow
def test_the_suite_grades_a_callable_given_on_the_command_line():
    passing = _pytest("--lrn-impl=tests.kernels.torch_impls:lrn")
    assert passing.returncode == 0 and f"{len(testing.check_names('lrn'))} passed" in passing.stdout, passing.stdout
    assert "deselected" in passing.stdout  # the lab's own kernel tests are not run
    failing = _pytest("--lrn-impl=tests/kernels/torch_impls.py:lrn_unconverted", "-k", "fp64")
    assert failing.returncode == 1 and "FAIL forward fp64: outside the tolerance" in failing.stdout
    assert "matches the other convention, alpha divided by size" in failing.stdout
    wrong = _pytest("--lrn-impl=tests.kernels.torch_impls")
    assert wrong.returncode != 0 and "--lrn-impl must be MODULE:FUNCTION" in wrong.stdout + wrong.stderr


def test_a_result_in_another_dtype_fails_and_says_which():
    def always_fp32(x, size, alpha, beta, k, alpha_over_size=False):
        return LAB_LRN(x.float(), size, alpha, beta, k, alpha_over_size=alpha_over_size)

    report = testing.check_lrn(always_fp32, only=["forward fp16", "forward fp64", "forward fp32"])
    assert report.failed == ["forward fp64", "forward fp16"]  # in the order the checks run
    assert "returned torch.float32, expected torch.float16" in str(report)
    assert testing.check_lrn(LAB_LRN, only=["gradcheck"]).results[0].max_error is None  # nothing to measure
