"""kernels.relu_lrn_max_pool2d equals max_pool2d(lrn(relu(x))), forward and backward, and saves less."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels
from kernels import reference

from .conftest import TARGETS, TOLERANCES

STRONG = dict(alpha=0.05, beta=0.75, k=1.0)  # makes every term of the LRN count at unit-scale inputs
SHAPES = [(1, 1, 3, 3), (2, 3, 7, 9), (2, 7, 11, 6), (1, 13, 5, 5)]
POOLS = [
    dict(kernel_size=3, stride=2, padding=0),
    dict(kernel_size=2, stride=2, padding=1),
    dict(kernel_size=3, stride=1, padding=1),
]


def _input(shape, dtype, device, seed=0, scale=3.0):
    gen = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(shape, generator=gen, dtype=torch.float64)).to(device=device, dtype=dtype)


def _reference(x, dy, size, hyper, pool, alpha_over_size=False):
    """Float64 composition of the three independent oracles, gradient by autograd."""
    x64 = x.detach().cpu().double().requires_grad_()
    alpha = hyper["alpha"] / size if alpha_over_size else hyper["alpha"]
    b = reference.lrn_reference(torch.relu(x64), size, alpha, hyper["beta"], hyper["k"])
    out = F.max_pool2d(b, pool["kernel_size"], pool["stride"], pool["padding"])
    (dx,) = torch.autograd.grad(out, x64, dy.cpu().double())
    return out.detach(), dx


def _run(x, dy, size, hyper, pool, backend, alpha_over_size=False):
    x = x.detach().requires_grad_()
    out = kernels.relu_lrn_max_pool2d(x, size, **hyper, **pool, alpha_over_size=alpha_over_size, backend=backend)
    (dx,) = torch.autograd.grad(out, x, dy)
    return out, dx


def _out_shape(x, pool):
    return F.max_pool2d(x, pool["kernel_size"], pool["stride"], pool["padding"]).shape


@pytest.mark.parametrize("pool", POOLS, ids=lambda p: "k{kernel_size}s{stride}p{padding}".format(**p))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("size", [1, 2, 5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_matches_composition_of_float64_references(target, shape, size, pool, dtype):
    device, backend = target
    x = _input(shape, dtype, device)
    dy = _input(_out_shape(x, pool), dtype, device, seed=1, scale=1.0)
    out, dx = _run(x, dy, size, STRONG, pool, backend)
    r_out, r_dx = _reference(x, dy, size, STRONG, pool)
    torch.testing.assert_close(out.double().cpu(), r_out, **TOLERANCES[dtype])
    torch.testing.assert_close(dx.double().cpu(), r_dx, **TOLERANCES[dtype])


def test_equals_the_unfused_kernels_with_pytorchs_lrn_convention(target):
    device, backend = target
    x = _input((2, 9, 13, 13), torch.float32, device, scale=30.0)
    dy = _input((2, 9, 6, 6), torch.float32, device, seed=1)
    out, dx = _run(x, dy, 5, dict(alpha=1e-3, beta=0.75, k=2.0), POOLS[0], backend, alpha_over_size=True)
    x_t = x.detach().requires_grad_()
    ref = F.max_pool2d(F.local_response_norm(F.relu(x_t), 5, 1e-3, 0.75, 2.0), 3, 2)
    (dx_t,) = torch.autograd.grad(ref, x_t, dy)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(dx, dx_t)


def test_channels_last_in_channels_last_out(target):
    device, backend = target
    x = _input((2, 6, 9, 9), torch.float32, device)
    dy = _input((2, 6, 4, 4), torch.float32, device, seed=1)
    out, dx = _run(x.contiguous(memory_format=torch.channels_last), dy, 5, STRONG, POOLS[0], backend)
    ref_out, ref_dx = _run(x, dy, 5, STRONG, POOLS[0], backend)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(dx, ref_dx)


def test_backward_is_bitwise_deterministic(target):
    device, backend = target
    x = _input((2, 8, 13, 13), torch.float32, device)
    dy = _input((2, 8, 6, 6), torch.float32, device, seed=1)
    assert torch.equal(_run(x, dy, 5, STRONG, POOLS[0], backend)[1], _run(x, dy, 5, STRONG, POOLS[0], backend)[1])


def _saved_bytes(fn, x):
    saved = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x.detach().requires_grad_())
    unique = {(t.data_ptr(), t.dtype, t.numel()): t for t in saved if t.numel() > 0}
    return sum(t.numel() * t.element_size() for t in unique.values())


def test_saves_the_input_and_one_byte_per_output_only(target):
    device, backend = target
    if backend != "triton":
        pytest.skip("the memory saving is the Triton kernel's")
    x = _input((2, 16, 27, 27), torch.float32, device)
    fused = _saved_bytes(lambda t: kernels.relu_lrn_max_pool2d(t, backend=backend), x)
    unfused = _saved_bytes(lambda t: F.max_pool2d(F.local_response_norm(F.relu(t), 5, 1e-4, 0.75, 2.0), 3, 2), x)
    assert fused == x.numel() * 4 + 2 * 16 * 13 * 13 * 1
    assert fused <= 0.5 * unfused, (fused, unfused)


@settings(max_examples=20, deadline=None)
@given(
    c=st.integers(1, 8),
    h=st.integers(3, 10),
    w=st.integers(3, 10),
    size=st.integers(1, 6),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 3),
    pad=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_any_shape_matches_reference(c, h, w, size, kernel, stride, pad, seed):
    pool = dict(kernel_size=kernel, stride=stride, padding=int(pad and kernel >= 2))
    x = _input((1, c, h, w), torch.float64, "cpu", seed=seed)
    dy = _input(_out_shape(x, pool), torch.float64, "cpu", seed=seed + 1, scale=1.0)
    r_out, r_dx = _reference(x, dy, size, STRONG, pool)
    for device, backend in TARGETS:
        out, dx = _run(x.to(device), dy.to(device), size, STRONG, pool, backend)
        torch.testing.assert_close(out.cpu(), r_out, **TOLERANCES[torch.float64])
        torch.testing.assert_close(dx.cpu(), r_dx, **TOLERANCES[torch.float64])


def test_module_repr_and_defaults(target):
    device, backend = target
    module = kernels.ReLULRNMaxPool2d(backend=backend)
    x = _input((1, 4, 55, 55), torch.float32, device)
    assert module(x).shape == (1, 4, 27, 27)
    assert "size=5" in repr(module) and "kernel_size=3" in repr(module)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(size=0), ValueError, "size must be an integer >= 1"),
        (dict(k=0.0, alpha=0.0), ValueError, "k must be > 0 when alpha is 0"),
        (dict(padding=2), ValueError, "padding must be between 0 and half of kernel_size"),
        (dict(stride=0), ValueError, "stride must be greater than zero"),
        (dict(kernel_size=7), ValueError, "too small for kernel_size"),
        (dict(backend="gpu"), ValueError, "backend must be one of"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        kernels.relu_lrn_max_pool2d(torch.ones(1, 3, 5, 5), **kwargs)


def test_three_dimensional_input_is_refused():
    with pytest.raises(ValueError, match=r"relu_lrn_max_pool2d: x must be \(N, C, H, W\), got a 3-D tensor"):
        kernels.relu_lrn_max_pool2d(torch.ones(3, 5, 5))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_half_precision_pools_the_unrounded_fp32_lrn_values(target, dtype):
    # The fused kernel never rounds b to fp16/bf16 before taking the maximum, so it picks the maximum of the
    # chain computed in fp32; the eager chain (and backend="torch") picks among rounded values and, where two
    # cells round to one value, the first of them. Documented in relu_lrn_max_pool2d's docstring.
    device, backend = target
    x = _input((2, 8, 15, 15), dtype, device)
    dy = _input((2, 8, 7, 7), dtype, device, seed=1, scale=1.0)
    out, dx = _run(x, dy, 5, STRONG, POOLS[0], backend)
    x32 = x.detach().float().requires_grad_()
    out32 = F.max_pool2d(kernels.lrn(torch.relu(x32), 5, **STRONG, backend="torch"), 3, 2)
    (dx32,) = torch.autograd.grad(out32, x32, dy.float())
    x_eager = x.detach().requires_grad_()
    out_eager = F.max_pool2d(kernels.lrn(torch.relu(x_eager), 5, **STRONG, backend="torch"), 3, 2)
    (dx_eager,) = torch.autograd.grad(out_eager, x_eager, dy)
    if backend == "torch":
        assert torch.equal(out, out_eager) and torch.equal(dx, dx_eager)
        return
    # Within a unit of rounding, not bitwise: Triton's interpreter truncates fp32 -> bf16 where a GPU rounds.
    torch.testing.assert_close(out.cpu(), out32.to(dtype).cpu(), **TOLERANCES[dtype])
    torch.testing.assert_close(dx.cpu(), dx32.to(dtype).cpu(), **TOLERANCES[dtype])
    assert not torch.equal(dx.cpu(), dx_eager.cpu())  # the data has windows where the two rules differ


@pytest.mark.parametrize("scale", [1e14, 1e16, 1e18])
def test_fp32_gradient_keeps_its_lrn_term_at_large_activations(target, scale):
    device, backend = target
    x = _input((1, 6, 7, 7), torch.float64, "cpu", scale=scale)
    dy = _input((1, 6, 3, 3), torch.float64, "cpu", seed=1, scale=1.0)
    paper = dict(alpha=1e-4, beta=0.75, k=2.0)
    r_out, r_dx = _reference(x, dy, 5, paper, POOLS[0])
    out, dx = _run(x.float().to(device), dy.float().to(device), 5, paper, POOLS[0], backend)
    assert ((out.double().cpu() - r_out).abs().max() / r_out.abs().max()).item() < 1e-6
    assert ((dx.double().cpu() - r_dx).abs().max() / r_dx.abs().max()).item() < 1e-6
