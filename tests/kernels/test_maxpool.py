"""kernels.max_pool2d against F.max_pool2d (values and indices) and a naive float64 reference."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels
from kernels import reference
from kernels._pool import argmax_dtype, pool_output_size

from .conftest import TARGETS, TOLERANCES

# (kernel, stride, padding, dilation, ceil_mode): the paper's 3/2, non-overlapping, padded, dilated, rectangular.
CONFIGS = [
    (3, 2, 0, 1, False),
    (3, 2, 1, 1, True),
    (2, 2, 0, 1, False),
    (2, 2, 1, 1, True),
    (3, 1, 1, 1, False),
    (1, 1, 0, 1, False),
    (3, 3, 0, 2, True),
    ((2, 3), (1, 2), (1, 0), (2, 1), True),
]
SHAPES = [(1, 1, 3, 3), (2, 3, 7, 9), (1, 2, 13, 5), (2, 5, 6, 11)]


def _input(shape, dtype, device, seed=0, quantize=None):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    if quantize:  # few distinct values: many ties
        x = (x * quantize).round()
    return x.to(device=device, dtype=dtype)


def _run(x, dy, config, backend):
    kernel, stride, padding, dilation, ceil_mode = config
    x = x.detach().requires_grad_()
    out, idx = kernels.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode, True, backend=backend)
    (dx,) = torch.autograd.grad(out, x, dy)
    return out, idx, dx


def _torch(x, dy, config):
    kernel, stride, padding, dilation, ceil_mode = config
    x = x.detach().requires_grad_()
    out, idx = F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode, return_indices=True)
    (dx,) = torch.autograd.grad(out, x, dy)
    return out, idx, dx


def _out_shape(x, config):
    """Output shape by PyTorch's own forward; raises RuntimeError where PyTorch rejects the arguments."""
    kernel, stride, padding, dilation, ceil_mode = config
    with torch.no_grad():
        return F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode).shape


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


def _reference(x, dy, config):
    kernel, stride, padding, dilation = (_pair(c) for c in config[:4])
    out_size = tuple(
        pool_output_size(x.shape[2 + d], kernel[d], stride[d], padding[d], dilation[d], config[4]) for d in range(2)
    )
    values, indices = reference.max_pool2d_reference(x.cpu(), kernel, stride, padding, dilation, out_size)
    dx = reference.max_pool2d_backward_reference(dy.cpu(), indices, x.shape)
    return values, indices, dx


@pytest.mark.parametrize("config", CONFIGS, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_torch_and_float64_reference(target, shape, config):
    device, backend = target
    x = _input(shape, torch.float32, device)
    try:
        out_shape = _out_shape(x, config)
    except RuntimeError:
        pytest.skip("PyTorch rejects this shape/config too (tested in test_bad_arguments)")
    dy = _input(out_shape, torch.float32, device, seed=1)
    out, idx, dx = _run(x, dy, config, backend)
    t_out, t_idx, t_dx = _torch(x, dy, config)
    torch.testing.assert_close(out, t_out, rtol=0, atol=0)
    assert torch.equal(idx, t_idx)
    torch.testing.assert_close(dx, t_dx)
    r_out, r_idx, r_dx = _reference(x, dy, config)
    torch.testing.assert_close(out.double().cpu(), r_out, rtol=0, atol=0)
    assert torch.equal(idx.cpu(), r_idx)
    torch.testing.assert_close(dx.double().cpu(), r_dx, **TOLERANCES[torch.float32])


@pytest.mark.parametrize("config", CONFIGS[:4], ids=str)
def test_ties_go_to_the_first_maximum(target, config):
    device, backend = target
    x = _input((2, 3, 9, 8), torch.float32, device, quantize=1.0)  # values in {-3..3}: many ties
    x[0, 0] = 1.0  # a plane of equal values
    dy = torch.ones(_out_shape(x, config), device=device)
    out, idx, dx = _run(x, dy, config, backend)
    t_out, t_idx, t_dx = _torch(x, dy, config)
    assert torch.equal(idx, t_idx) and torch.equal(out, t_out) and torch.equal(dx, t_dx)
    assert torch.equal(idx.cpu(), _reference(x, dy, config)[1])


def test_nan_propagates_like_torch(target):
    device, backend = target
    x = _input((1, 2, 7, 7), torch.float32, device)
    x[0, 0, 2, 2] = float("nan")  # inside four overlapping 3x3 windows
    x[0, 1, 0, 0] = x[0, 1, 0, 2] = float("nan")  # two NaNs in one window: ATen points at the last
    config = (3, 2, 0, 1, False)
    dy = torch.ones(1, 2, 3, 3, device=device)
    out, idx, dx = _run(x, dy, config, backend)
    t_out, t_idx, t_dx = _torch(x, dy, config)
    assert torch.equal(out.isnan(), t_out.isnan()) and out.isnan().sum() == 6
    assert torch.equal(idx, t_idx)
    torch.testing.assert_close(dx, t_dx)


def test_minus_infinity_windows_point_at_their_first_cell(target):
    device, backend = target
    x = torch.full((1, 1, 5, 5), float("-inf"), device=device)
    x[0, 0, 4, 4] = 1.0
    out, idx, _ = _run(x, torch.ones(1, 1, 2, 2, device=device), (3, 2, 0, 1, False), backend)
    t_out, t_idx, _ = _torch(x, torch.ones(1, 1, 2, 2, device=device), (3, 2, 0, 1, False))
    assert torch.equal(out, t_out) and torch.equal(idx, t_idx)
    assert idx[0, 0].tolist() == [[0, 2], [10, 24]]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64], ids=str)
def test_other_dtypes_match_torch(target, dtype):
    device, backend = target
    x = _input((2, 3, 11, 9), dtype, device, quantize=4.0)
    config = (3, 2, 1, 1, True)
    dy = _input(_out_shape(x, config), dtype, device, seed=1)
    out, idx, dx = _run(x, dy, config, backend)
    t_out, t_idx, t_dx = _torch(x, dy, config)
    assert out.dtype == dx.dtype == dtype and idx.dtype == torch.int64
    assert torch.equal(out, t_out) and torch.equal(idx, t_idx)
    r_dx = _reference(x, dy, config)[2]  # exact sums of dy, rounded once
    torch.testing.assert_close(dx.cpu(), r_dx.to(dtype), **TOLERANCES[dtype])


@pytest.mark.parametrize("layout", ["channels_last", "sliced"])
def test_strided_inputs_and_layout(target, layout):
    device, backend = target
    base = _input((2, 6, 9, 10), torch.float32, device)
    x = base.contiguous(memory_format=torch.channels_last) if layout == "channels_last" else base[:, ::2, 1:, ::2]
    config = (3, 2, 1, 1, False)
    dy = _input(_out_shape(x, config), torch.float32, device, seed=1)
    out, idx, dx = _run(x, dy.transpose(2, 3).contiguous().transpose(2, 3), config, backend)
    t_out, t_idx, t_dx = _torch(x.contiguous(), dy, config)
    assert torch.equal(out, t_out) and torch.equal(idx, t_idx)
    torch.testing.assert_close(dx, t_dx)
    if layout == "channels_last":
        assert out.is_contiguous(memory_format=torch.channels_last)


def test_unbatched_input(target):
    device, backend = target
    x = _input((3, 7, 7), torch.float32, device)
    out, idx = kernels.max_pool2d(x, return_indices=True, backend=backend)
    t_out, t_idx = F.max_pool2d(x, 3, 2, return_indices=True)
    assert out.shape == (3, 3, 3) and torch.equal(out, t_out) and torch.equal(idx, t_idx)


def test_module_and_defaults_are_the_papers_overlapping_pooling(target):
    device, backend = target
    x = _input((2, 4, 55, 55), torch.float32, device)
    module = kernels.MaxPool2d(backend=backend)
    assert module(x).shape == (2, 4, 27, 27)
    assert torch.equal(module(x), F.max_pool2d(x, 3, 2))
    assert "kernel_size=3, stride=2" in repr(module)


@pytest.mark.parametrize("backend", [b for d, b in TARGETS if d == "cpu"])
def test_gradcheck_float64(backend):
    x = _input((1, 2, 5, 6), torch.float64, "cpu").requires_grad_()  # distinct values: no ties, smooth locally
    assert torch.autograd.gradcheck(lambda t: kernels.max_pool2d(t, 3, 2, 1, backend=backend), (x,))


def test_backward_is_bitwise_deterministic_with_overlapping_windows(target):
    device, backend = target
    x = _input((4, 8, 27, 27), torch.float32, device, quantize=0.5)  # ties: cells that win several windows
    dy = _input((4, 8, 13, 13), torch.float32, device, seed=1)
    dxs = [_run(x, dy, (3, 2, 0, 1, False), backend)[2] for _ in range(2)]
    assert torch.equal(dxs[0], dxs[1])


def test_saves_one_byte_per_output_for_backward():
    assert argmax_dtype(9) == torch.int8 and argmax_dtype(200) == torch.int16 and argmax_dtype(40000) == torch.int32


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 3),
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    pad_frac=st.floats(0, 1),
    ceil_mode=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_any_geometry_matches_torch(n, c, h, w, kernel, stride, dilation, pad_frac, ceil_mode, seed):
    padding = tuple(int(pad_frac * (k // 2)) for k in kernel)
    config = (kernel, stride, padding, dilation, ceil_mode)
    x = _input((n, c, h, w), torch.float32, "cpu", seed=seed, quantize=2.0)
    try:
        out_shape = _out_shape(x, config)
    except RuntimeError:
        with pytest.raises(ValueError):
            kernels.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)
        return
    dy = _input(out_shape, torch.float32, "cpu", seed=seed + 1)
    t_out, t_idx, t_dx = _torch(x, dy, config)
    for device, backend in TARGETS:
        out, idx, dx = _run(x.to(device), dy.to(device), config, backend)
        assert torch.equal(out.cpu(), t_out) and torch.equal(idx.cpu(), t_idx)
        torch.testing.assert_close(dx.cpu(), t_dx)


# ----------------------------------------------------------------------------------------------- bad input

BAD = [
    (dict(kernel_size=4, padding=3), "padding must be between 0 and half of kernel_size"),
    (dict(kernel_size=3, padding=-1), "padding must be between 0 and half of kernel_size"),
    (dict(stride=0), "stride must be greater than zero"),
    (dict(kernel_size=0), "kernel_size must be greater than zero"),
    (dict(dilation=0), "dilation must be greater than zero"),
    (dict(kernel_size=9), r"too small for kernel_size \(9, 9\)"),
    (dict(kernel_size=3, dilation=4), "too small"),
]


@pytest.mark.parametrize("kwargs, message", BAD, ids=[m for _, m in BAD])
def test_bad_arguments_are_rejected_like_torch_with_a_named_argument(kwargs, message):
    x = torch.ones(1, 2, 5, 5)
    with pytest.raises(ValueError, match=message):
        kernels.max_pool2d(x, **kwargs)
    args = dict(dict(kernel_size=3, stride=2, padding=0, dilation=1), **kwargs)
    with pytest.raises(RuntimeError):  # PyTorch refuses the same arguments
        F.max_pool2d(x, **args)


@pytest.mark.parametrize("value", [(3, 3, 3), "3", 2.5, True])
def test_malformed_sizes_name_the_argument(value):
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair of ints"):
        kernels.max_pool2d(torch.ones(1, 1, 5, 5), kernel_size=value)


@pytest.mark.parametrize("shape", [(5,), (2, 5), (1, 1, 1, 5, 5)])
def test_wrong_rank_names_the_unbatched_layout_as_c_h_w(shape):
    with pytest.raises(ValueError, match=r"max_pool2d: x must be \(C, H, W\) or \(N, C, H, W\), got a \d-D tensor"):
        kernels.max_pool2d(torch.ones(shape))


@pytest.mark.parametrize("shape, empty", [
    ((2, 0, 6, 6), "C"), ((0, 6, 6), "C"), ((2, 3, 0, 6), "H"), ((2, 3, 6, 0), "W"), ((3, 0, 0), "H and W"),
])  # fmt: skip
@pytest.mark.parametrize("backend", [b for d, b in TARGETS if d == "cpu"])
def test_empty_channel_or_plane_is_an_error_on_every_backend_as_in_torch(shape, empty, backend):
    x = torch.ones(shape)
    with pytest.raises(RuntimeError):
        F.max_pool2d(x, 3, 2)
    with pytest.raises(ValueError, match=f"max_pool2d: x has an empty {empty} dimension"):
        kernels.max_pool2d(x, backend=backend)


def test_empty_batch_is_fine_as_in_torch(target):
    device, backend = target
    out = kernels.max_pool2d(torch.ones(0, 3, 7, 7, device=device), backend=backend)
    assert out.shape == F.max_pool2d(torch.ones(0, 3, 7, 7), 3, 2).shape


@pytest.mark.parametrize("kwargs", [dict(kernel_size=(3,)), dict(kernel_size=(3,), stride=()), dict(stride=(2,))])
def test_one_element_sizes_and_empty_stride_are_accepted_as_in_torch(target, kwargs):
    device, backend = target
    x = _input((1, 2, 9, 8), torch.float32, "cpu")
    args = dict(dict(kernel_size=3, stride=2), **kwargs)
    expected = F.max_pool2d(x, **args)
    torch.testing.assert_close(kernels.max_pool2d(x.to(device), **args, backend=backend).cpu(), expected)


def test_integer_input():
    with pytest.raises(TypeError, match="max_pool2d: x must be float16, bfloat16, float32 or float64"):
        kernels.max_pool2d(torch.ones(1, 1, 5, 5, dtype=torch.int64))
