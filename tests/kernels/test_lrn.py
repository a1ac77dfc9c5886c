"""kernels.lrn against F.local_response_norm, on inputs that break things, and its errors.

The float64-reference checks (odd shapes, dtypes, layouts, inf/NaN locality, gradcheck) are
kernels.testing.check_lrn, run on every backend by test_conformance.py.
"""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels
from kernels import reference
from kernels.lrn import lrn_backward

from .conftest import TARGETS, TOLERANCES

PAPER = dict(alpha=1e-4, beta=0.75, k=2.0)
# The paper's alpha barely moves b at unit-scale inputs; a larger one makes every term of the formula count.
STRONG = dict(alpha=0.05, beta=0.75, k=1.0)


def _input(shape, dtype, device, scale=3.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(shape, generator=gen, dtype=torch.float64)).to(device=device, dtype=dtype)


def _reference_grads(x, dy, size, alpha, beta, k):
    x64 = x.detach().to(torch.float64).requires_grad_()
    y64 = reference.lrn_reference(x64, size, alpha, beta, k)
    (dx64,) = torch.autograd.grad(y64, x64, dy.to(torch.float64))
    return y64.detach(), dx64


def _run(x, dy, size, hyper, backend, alpha_over_size=False):
    x = x.detach().requires_grad_()
    y = kernels.lrn(x, size, **hyper, alpha_over_size=alpha_over_size, backend=backend)
    (dx,) = torch.autograd.grad(y, x, dy)
    return y.detach(), dx


@pytest.mark.parametrize("size", [1, 2, 4, 5, 6, 9])
@pytest.mark.parametrize("rank", [3, 4])
def test_alpha_over_size_matches_torch_local_response_norm(target, size, rank):
    device, backend = target
    shape = (2, 7, 5, 3)[:rank] if rank == 4 else (2, 7, 9)
    x = _input(shape, torch.float64, device)
    dy = _input(shape, torch.float64, device, scale=1.0, seed=1)
    y, dx = _run(x, dy, size, STRONG, backend, alpha_over_size=True)
    x_t = x.detach().requires_grad_()
    y_t = F.local_response_norm(x_t, size, **STRONG)
    (dx_t,) = torch.autograd.grad(y_t, x_t, dy)
    torch.testing.assert_close(y, y_t, **TOLERANCES[torch.float64])
    torch.testing.assert_close(dx, dx_t, **TOLERANCES[torch.float64])


def test_paper_and_alpha_over_size_conventions_differ_by_alpha_over_size(target):
    device, backend = target
    x = _input((2, 9, 4, 4), torch.float32, device, scale=30.0)
    paper = kernels.lrn(x, 5, alpha=5e-4, beta=0.75, k=2.0, backend=backend)
    caffe = kernels.lrn(x, 5, alpha=2.5e-3, beta=0.75, k=2.0, alpha_over_size=True, backend=backend)
    torch.testing.assert_close(paper, caffe)
    assert not torch.allclose(paper, kernels.lrn(x, 5, alpha=5e-4, alpha_over_size=True, backend=backend))


@pytest.mark.parametrize("layout", ["channels_last", "transposed_hw", "strided_slice", "expanded_dy"])
def test_non_contiguous_inputs_give_the_contiguous_result(target, layout):
    device, backend = target
    base = _input((2, 6, 5, 7), torch.float32, device)
    dy = _input((2, 6, 5, 7), torch.float32, device, scale=1.0, seed=1)
    if layout == "channels_last":
        x = base.contiguous(memory_format=torch.channels_last)
    elif layout == "transposed_hw":
        x = base.transpose(2, 3).contiguous().transpose(2, 3)
    elif layout == "strided_slice":
        x = _input((2, 12, 5, 14), torch.float32, device)[:, ::2, :, ::2]
        base = x.contiguous()
    else:  # a broadcast gradient, as from y.sum(): stride 0 everywhere
        x = base
        dy = torch.ones(1, device=device).expand_as(base)
    assert layout == "expanded_dy" or not x.is_contiguous()
    y, dx = _run(x, dy, 5, STRONG, backend)
    y_c, dx_c = _run(base, dy.contiguous(), 5, STRONG, backend)
    torch.testing.assert_close(y, y_c, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(dx, dx_c, rtol=1e-6, atol=1e-7)
    if layout == "channels_last":
        assert y.is_contiguous(memory_format=torch.channels_last)
        # The kernel writes dx in x's layout; PyTorch's ops follow dy's, which is fine for autograd.
        assert backend == "torch" or dx.is_contiguous(memory_format=torch.channels_last)


def test_backward_is_bitwise_deterministic(target):
    device, backend = target
    x = _input((2, 10, 6, 6), torch.float32, device)
    dy = _input((2, 10, 6, 6), torch.float32, device, scale=1.0, seed=1)
    _, dx1 = _run(x, dy, 5, STRONG, backend)
    _, dx2 = _run(x, dy, 5, STRONG, backend)
    assert torch.equal(dx1, dx2)


def test_empty_batch_returns_empty(target):
    device, backend = target
    x = torch.zeros(0, 4, 3, 3, device=device, requires_grad=True)
    y = kernels.lrn(x, backend=backend)
    y.sum().backward()
    assert y.shape == x.shape and x.grad.shape == x.shape


def test_module_matches_function_and_describes_itself(target):
    device, backend = target
    module = kernels.LocalResponseNorm(3, alpha=0.05, beta=0.5, k=1.5, alpha_over_size=True, backend=backend)
    x = _input((1, 5, 3, 3), torch.float32, device)
    torch.testing.assert_close(module(x), kernels.lrn(x, 3, 0.05, 0.5, 1.5, alpha_over_size=True, backend=backend))
    assert "alpha_over_size=True" in repr(module) and "size=3" in repr(module)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 12),
    h=st.integers(1, 5),
    w=st.integers(1, 5),
    size=st.integers(1, 8),
    alpha=st.floats(0.0, 0.5),
    beta=st.floats(0.1, 2.0),
    k=st.floats(0.5, 4.0),
    seed=st.integers(0, 2**16),
)
def test_property_any_shape_and_hyperparameters_match_reference(n, c, h, w, size, alpha, beta, k, seed):
    hyper = dict(alpha=alpha, beta=beta, k=k)
    x = _input((n, c, h, w), torch.float64, "cpu", seed=seed)
    dy = _input((n, c, h, w), torch.float64, "cpu", scale=1.0, seed=seed + 1)
    y_ref, dx_ref = _reference_grads(x, dy, size, **hyper)
    for device, backend in TARGETS:
        y, dx = _run(x.to(device), dy.to(device), size, hyper, backend)
        torch.testing.assert_close(y.cpu(), y_ref, **TOLERANCES[torch.float64])
        torch.testing.assert_close(dx.cpu(), dx_ref, **TOLERANCES[torch.float64])


# ----------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.uint8, torch.bool])
def test_integer_input_is_a_type_error_naming_x(dtype):
    with pytest.raises(TypeError, match=r"lrn: x must be float16, bfloat16, float32 or float64"):
        kernels.lrn(torch.ones(1, 3, 2, 2, dtype=dtype))


@pytest.mark.parametrize("shape", [(4,), (3, 4), (1, 2, 3, 4, 5)])
def test_wrong_rank_is_a_value_error_naming_the_expected_shapes(shape):
    with pytest.raises(ValueError, match=r"x must be \(N, C, L\) or \(N, C, H, W\), got a \d-D tensor"):
        kernels.lrn(torch.ones(shape))


def test_non_tensor_input_is_a_type_error():
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
        kernels.lrn([[1.0]])


@pytest.mark.parametrize("size", [0, -3, 2.5, True, "5"])
def test_bad_size_is_a_value_error_naming_size(size):
    with pytest.raises(ValueError, match="size must be an integer >= 1"):
        kernels.lrn(torch.ones(1, 3, 2, 2), size)
    with pytest.raises(ValueError, match="size must be an integer >= 1"):
        kernels.LocalResponseNorm(size)


@pytest.mark.parametrize(
    "hyper, message",
    [
        (dict(k=0.0, alpha=0.0), "k must be > 0 when alpha is 0"),
        (dict(k=-1.0), "k must be >= 0"),
        (dict(alpha=-1e-4), "alpha must be >= 0"),
        (dict(beta=float("nan")), "beta must be a finite real number"),
        (dict(alpha=float("inf")), "alpha must be a finite real number"),
    ],
)
def test_senseless_hyperparameters_are_value_errors(hyper, message):
    with pytest.raises(ValueError, match=message):
        kernels.lrn(torch.ones(1, 3, 2, 2), **hyper)


def test_unknown_backend_is_a_value_error():
    with pytest.raises(ValueError, match=r"backend must be one of \('auto', 'triton', 'torch'\), got 'cuda'"):
        kernels.lrn(torch.ones(1, 3, 2, 2), backend="cuda")


def test_triton_backend_on_cpu_without_interpreter_says_how_to_enable_it(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(RuntimeError, match="needs a CUDA tensor, or TRITON_INTERPRET=1"):
        kernels.lrn(torch.ones(1, 3, 2, 2), backend="triton")


def test_gradient_on_another_device_is_a_value_error():
    x = torch.ones(1, 3, 2, 2)
    with pytest.raises(ValueError, match="tensors must be on one device, got x on cpu, dy on meta"):
        lrn_backward(x, torch.ones(1, 3, 2, 2, device="meta"), 5, 1e-4, 0.75, 2.0)


def test_gradient_of_another_shape_is_a_value_error():
    with pytest.raises(ValueError, match=r"dy must have x's shape \(1, 3, 2, 2\)"):
        lrn_backward(torch.ones(1, 3, 2, 2), torch.ones(1, 3, 2, 3), 5, 1e-4, 0.75, 2.0)


# ------------------------------------------------------------------------- gradient defects (regressions)


def _nan_pattern_and_values_match(actual, expected):
    assert torch.equal(actual.isnan(), expected.isnan()), (actual, expected)
    finite = ~expected.isnan()
    torch.testing.assert_close(actual[finite], expected[finite], rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy under the interpreter warns on inf and NaN
@pytest.mark.parametrize(
    "values, k",
    [
        ([1, float("inf"), 1, 1, 1, 1, 1, 1], 1.0),  # one inf: torch's gradient is NaN next to it, finite after
        ([0, 0, 0, 1, 2, 1, 3, 1], 0.0),  # k = 0 and an all-zero window, as after a ReLU
        ([1, 2, float("nan"), 1, 1, 1, 1, 1], 1.0),
    ],
    ids=["inf", "k0-zero-window", "nan"],
)
def test_one_non_finite_value_stays_in_its_windows_like_torch(target, values, k):
    # The old backward kept a running window sum (add on entry, subtract on exit): inf - inf = NaN then
    # spread to every later channel at that pixel.
    device, backend = target
    x = torch.tensor(values, dtype=torch.float32).view(1, 8, 1, 1)
    dy = torch.ones_like(x)
    y_t, dx_t = _run_torch_lrn(x, dy, size=3, k=k)
    y, dx = _run(x.to(device), dy.to(device), 3, dict(alpha=1.0, beta=0.75, k=k), backend, alpha_over_size=True)
    _nan_pattern_and_values_match(y.cpu(), y_t)
    _nan_pattern_and_values_match(dx.cpu(), dx_t)
    assert not dx.cpu()[0, -3:].isnan().any()


def _run_torch_lrn(x, dy, size, k):
    x = x.detach().requires_grad_()
    y = F.local_response_norm(x, size, alpha=1.0, beta=0.75, k=k)
    (dx,) = torch.autograd.grad(y, x, dy)
    return y.detach(), dx


def test_fp32_gradient_error_does_not_grow_with_channels(target):
    # C = 256, size 7: a running sum's cancellation gave ~10x the error of a direct window sum.
    device, backend = target
    x = _input((2, 256, 3, 3), torch.float64, "cpu")
    dy = _input((2, 256, 3, 3), torch.float64, "cpu", scale=1.0, seed=1)
    _, dx_ref = _reference_grads(x, dy, 7, **STRONG)
    _, dx = _run(x.float().to(device), dy.float().to(device), 7, STRONG, backend)
    err = (dx.double().cpu() - dx_ref).abs().max().item()
    assert err < 2.5e-7 * dx_ref.abs().max().item(), err  # the running sum: 3.7e-7, a direct sum: 1.0e-7


def _normwise_error(actual, expected):
    return ((actual.double().cpu() - expected).abs().max() / expected.abs().max()).item()


@pytest.mark.parametrize("scale", [1.0, 1e14, 1e15, 1e16, 1e18])
def test_fp32_gradient_keeps_its_second_term_at_large_activations(target, scale):
    # s^(-beta-1) underflowed fp32 from |a| ~ 1e14 on: the gradient lost its cross-channel term (relative error
    # 3.8 at 1e16). Error is measured against the largest entry because the two terms cancel in places.
    device, backend = target
    x = _input((2, 16, 3, 3), torch.float64, "cpu", scale=1.0).abs() * scale
    dy = _input((2, 16, 3, 3), torch.float64, "cpu", scale=1.0, seed=1)
    y_ref, dx_ref = _reference_grads(x, dy, 5, **PAPER)
    y, dx = _run(x.float().to(device), dy.float().to(device), 5, PAPER, backend)
    assert _normwise_error(y, y_ref) < 1e-6
    assert _normwise_error(dx, dx_ref) < 1e-6


@pytest.mark.parametrize("scale", [1e19, 1e20])
def test_backends_agree_where_squares_overflow_fp32(scale):
    # a^2 overflows fp32 at 1e19..1e20 while alpha * a^2 does not: s must be formed as (alpha * a) * a.
    x = torch.full((1, 5, 1, 2), scale)
    expected = reference.lrn_reference(x.double(), 5, **PAPER)
    for backend in [b for d, b in TARGETS if d == "cpu"]:
        y = kernels.lrn(x, backend=backend)
        assert (y > 0).all(), backend
        torch.testing.assert_close(y.double(), expected, rtol=1e-5, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_torch_backends_power_for_beta_three_quarters_is_within_a_few_ulp_of_pow(dtype):
    # beta = 0.75 goes through rsqrt(s) * sqrt(rsqrt(s)) (cheaper than pow on the CPU): s from 1e-6 to 1e30.
    s = torch.cat([torch.logspace(-6, 30, 20001, dtype=torch.float64), 1 + 10 * torch.rand(20000, dtype=torch.float64)])
    s = s.to(dtype)
    exact = s.double().pow(-0.75)
    relative = ((reference._pow_neg_(s.clone(), 0.75).double() - exact).abs() / exact).max().item()
    assert relative <= 3 * torch.finfo(dtype).eps  # measured: 2.1 eps in both dtypes (pow: 0.5 eps in fp32)
    edges = reference._pow_neg_(torch.tensor([0.0, float("inf"), float("nan")], dtype=dtype), 0.75)
    assert edges[0] == float("inf") and edges[1] == 0 and edges[2].isnan()  # as pow gives them
    other = torch.tensor([2.0, 3.0], dtype=dtype)
    torch.testing.assert_close(reference._pow_neg_(other.clone(), 0.6), other.pow(-0.6), rtol=0, atol=0)
