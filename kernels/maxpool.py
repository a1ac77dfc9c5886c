r"""Max pooling in Triton, including the paper's overlapping pooling (section 3.4: z = 3, s = 2).

Forward, for each output cell (oh, ow) of each plane:

    out[oh, ow] = max_{kh < KH, kw < KW} x[oh * SH - PH + kh * DH, ow * SW - PW + kw * DW]

over the cells inside the input (padding never wins), with ``torch.nn.functional.max_pool2d``'s conventions:
ties go to the first maximum in row-major window order, a NaN wins (the last one seen, as in ATen), and a
window of -inf still points at its first cell. Besides the values the kernel writes the *window position*
``kh * KW + kw`` of each maximum, in the smallest integer type that holds it (int8 for 3x3): that is all
backward needs, 8x smaller than PyTorch's int64 indices. Flat ``ih * W + iw`` indices are written only when
the caller asks for them.

Backward, without atomics: input cell (ih, iw) lies in window (oh, ow) at position (kh, kw) exactly when
``oh * SH = ih + PH - kh * DH``. Each input cell visits those (at most KH * KW) windows and adds dy[oh, ow]
where the saved position equals (kh, kw). Every sum has a fixed order, so the result is bit-for-bit
deterministic even where windows overlap.

Both kernels run one program per BLOCK consecutive elements of their output in memory order (NCHW or
channels-last), so stores are contiguous and channels-last inputs are read along channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._dispatch import check_float_tensor, check_same_device, resolve_backend, vmap_folding_batch
from ._pool import (
    PoolGeometry,
    argmax_dtype,
    decode_nchw,
    gather_pool_grad,
    is_channels_last,
    pool_geometry,
)
from ._triton import tl, triton
from ._utils import flat_block, flat_offsets, take_max, to_acc

__all__ = ["max_pool2d", "MaxPool2d", "MaxPool2dFunction", "max_pool2d_forward", "max_pool2d_backward"]


@triton.jit
def _max_pool2d_forward_kernel(
    x_ptr,  # input, (N, C, H, W), any strides
    out_ptr,  # pooled values, (N, C, OH, OW), dense NCHW or NHWC (CHANNELS_LAST)
    argmax_ptr,  # window position kh * KW + kw of each maximum, int8/16/32, laid out like out
    indices_ptr,  # flat ih * W + iw of each maximum, int64, laid out like out; written if WRITE_INDICES
    total,  # N * C * OH * OW
    C,
    H,
    W,
    OH,
    OW,
    stride_xn,
    stride_xc,
    stride_xh,
    stride_xw,
    KH: tl.constexpr,
    KW: tl.constexpr,
    SH: tl.constexpr,
    SW: tl.constexpr,
    PH: tl.constexpr,
    PW: tl.constexpr,
    DH: tl.constexpr,
    DW: tl.constexpr,
    CHANNELS_LAST: tl.constexpr,
    WRITE_INDICES: tl.constexpr,
    ACC_FP64: tl.constexpr,
    INDEX_64: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = flat_offsets(BLOCK, INDEX_64)
    in_bounds = offs < total
    n, c, oh, ow = decode_nchw(offs, C, OH, OW, CHANNELS_LAST)
    x_plane = x_ptr + n.to(tl.int64) * stride_xn + c.to(tl.int64) * stride_xc

    best = to_acc(tl.full((BLOCK,), float("-inf"), tl.float32), ACC_FP64)
    best_pos = tl.full((BLOCK,), -1, tl.int32)
    for kh in tl.static_range(KH):
        ih = oh * SH - PH + kh * DH
        for kw in tl.static_range(KW):
            iw = ow * SW - PW + kw * DW
            inside = in_bounds & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
            v = tl.load(x_plane + ih.to(tl.int64) * stride_xh + iw.to(tl.int64) * stride_xw, mask=inside, other=0.0)
            v = to_acc(v, ACC_FP64)
            best, best_pos = take_max(v, best, best_pos, inside, kh * KW + kw)

    tl.store(out_ptr + offs, best.to(out_ptr.dtype.element_ty), mask=in_bounds)
    tl.store(argmax_ptr + offs, best_pos.to(argmax_ptr.dtype.element_ty), mask=in_bounds)
    if WRITE_INDICES:
        ih = oh * SH - PH + (best_pos // KW) * DH
        iw = ow * SW - PW + (best_pos % KW) * DW
        tl.store(indices_ptr + offs, ih.to(tl.int64) * W + iw, mask=in_bounds)


@triton.jit
def _max_pool2d_backward_kernel(
    dy_ptr,  # gradient of the pooled output, (N, C, OH, OW), any strides
    argmax_ptr,  # saved window positions, (N, C, OH, OW), dense NCHW or NHWC like the forward output
    dx_ptr,  # gradient of the input, (N, C, H, W), dense NCHW or NHWC (CHANNELS_LAST)
    total,  # N * C * H * W
    C,
    H,
    W,
    OH,
    OW,
    stride_dyn,
    stride_dyc,
    stride_dyh,
    stride_dyw,
    KH: tl.constexpr,
    KW: tl.constexpr,
    SH: tl.constexpr,
    SW: tl.constexpr,
    PH: tl.constexpr,
    PW: tl.constexpr,
    DH: tl.constexpr,
    DW: tl.constexpr,
    CHANNELS_LAST: tl.constexpr,
    ACC_FP64: tl.constexpr,
    INDEX_64: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = flat_offsets(BLOCK, INDEX_64)
    in_bounds = offs < total
    n, c, ih, iw = decode_nchw(offs, C, H, W, CHANNELS_LAST)
    dx = gather_pool_grad(
        dy_ptr, argmax_ptr, n, c, ih, iw, in_bounds, C, OH, OW,
        stride_dyn, stride_dyc, stride_dyh, stride_dyw,
        KH, KW, SH, SW, PH, PW, DH, DW, CHANNELS_LAST, ACC_FP64,
    )  # fmt: skip
    tl.store(dx_ptr + offs, dx.to(dx_ptr.dtype.element_ty), mask=in_bounds)


# ----------------------------------------------------------------------------------------------- host side


def max_pool2d_forward(
    x: torch.Tensor, geo: PoolGeometry, return_indices: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Launch the forward kernel on x: (N, C, H, W). Returns (out, argmax positions, flat int64 indices or None)."""
    check_float_tensor(x, "x", "max_pool2d_forward", ranks=(4,))
    num_n, num_c, height, width = x.shape
    memory_format = torch.channels_last if is_channels_last(x) else torch.contiguous_format
    shape = (num_n, num_c, geo.OH, geo.OW)
    like = dict(device=x.device, memory_format=memory_format)
    out = torch.empty(shape, dtype=x.dtype, **like)
    argmax = torch.empty(shape, dtype=argmax_dtype(geo.KH * geo.KW), **like)
    indices = torch.empty(shape, dtype=torch.int64, **like) if return_indices else None
    total = out.numel()
    if total == 0:
        return out, argmax, indices
    block, num_warps, index_64 = flat_block(total, x.device)
    _max_pool2d_forward_kernel[(triton.cdiv(total, block),)](
        x, out, argmax, indices if return_indices else argmax, total,
        num_c, height, width, geo.OH, geo.OW, *x.stride(),
        **geo.constants(), CHANNELS_LAST=memory_format == torch.channels_last,
        WRITE_INDICES=return_indices, ACC_FP64=x.dtype == torch.float64, INDEX_64=index_64,
        BLOCK=block, num_warps=num_warps,
    )  # fmt: skip
    return out, argmax, indices


def max_pool2d_backward(
    dy: torch.Tensor, argmax: torch.Tensor, input_shape: tuple[int, ...], geo: PoolGeometry, channels_last: bool
) -> torch.Tensor:
    """Launch the backward kernel: dy (N, C, OH, OW), saved window positions -> dx (N, C, H, W)."""
    check_float_tensor(dy, "dy", "max_pool2d_backward", ranks=(4,))
    check_same_device("max_pool2d_backward", dy=dy, argmax=argmax)
    if dy.shape != argmax.shape:
        raise ValueError(f"max_pool2d_backward: dy must have shape {tuple(argmax.shape)}, got {tuple(dy.shape)}")
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    dx = torch.empty(input_shape, dtype=dy.dtype, device=dy.device, memory_format=memory_format)
    total = dx.numel()
    if total == 0:
        return dx
    num_n, num_c, height, width = input_shape
    block, num_warps, index_64 = flat_block(total, dy.device, heavy=True, fp64=dy.dtype == torch.float64)
    _max_pool2d_backward_kernel[(triton.cdiv(total, block),)](
        dy, argmax, dx, total, num_c, height, width, geo.OH, geo.OW, *dy.stride(),
        **geo.constants(), CHANNELS_LAST=channels_last, ACC_FP64=dy.dtype == torch.float64,
        INDEX_64=index_64, BLOCK=block, num_warps=num_warps,
    )  # fmt: skip
    return dx


def window_to_flat_indices(argmax: torch.Tensor, geo: PoolGeometry, width: int) -> torch.Tensor:
    """Flat input indices ``ih * W + iw`` (int64) of the maxima from their saved window positions."""
    oh = torch.arange(argmax.shape[-2], device=argmax.device).view(-1, 1)
    ow = torch.arange(argmax.shape[-1], device=argmax.device).view(1, -1)
    pos = argmax.long()
    ih = oh * geo.SH - geo.PH + (pos // geo.KW) * geo.DH
    iw = ow * geo.SW - geo.PW + (pos % geo.KW) * geo.DW
    return ih * width + iw


def scatter_to_maxima(dy: torch.Tensor, argmax: torch.Tensor, geo: PoolGeometry, input_shape) -> torch.Tensor:
    """dx with dy added onto each window's maximum, in differentiable PyTorch ops (the double backward)."""
    index = window_to_flat_indices(argmax, geo, input_shape[-1]).flatten(-2)
    dx = dy.new_zeros(*input_shape[:-2], input_shape[-2] * input_shape[-1])
    return dx.scatter_add(-1, index, dy.flatten(-2)).unflatten(-1, input_shape[-2:])


def gather_at_maxima(t: torch.Tensor, argmax: torch.Tensor, geo: PoolGeometry) -> torch.Tensor:
    """t (N, C, H, W) read at each window's maximum: the forward-mode derivative of max pooling."""
    index = window_to_flat_indices(argmax, geo, t.shape[-1]).flatten(-2)
    return t.flatten(-2).gather(-1, index).unflatten(-1, argmax.shape[-2:])


class MaxPool2dFunction(torch.autograd.Function):
    """Autograd glue for the Triton path: saves only the int8 window positions of the maxima.

    Returns (out, window positions) or (out, window positions, int64 indices); the positions are an output
    only so that ``setup_context`` can save them (``max_pool2d`` drops them). Higher derivatives, ``torch.func``
    transforms and forward mode work as for ``kernels.lrn``: see ``LRNFunction``.
    """

    @staticmethod
    def forward(x, geo, return_indices):
        out, argmax, indices = max_pool2d_forward(x, geo, return_indices)
        return (out, argmax) if indices is None else (out, argmax, indices)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, geo, _ = inputs
        argmax = output[1]
        ctx.mark_non_differentiable(*output[1:])
        ctx.save_for_backward(argmax)
        ctx.save_for_forward(argmax)
        ctx.geo, ctx.input_shape, ctx.channels_last = geo, tuple(x.shape), is_channels_last(x)
        ctx.num_index_outputs = len(output) - 1

    @staticmethod
    def backward(ctx, dy, *_unused_index_grads):
        (argmax,) = ctx.saved_tensors
        if torch.is_grad_enabled():
            return scatter_to_maxima(dy, argmax, ctx.geo, ctx.input_shape), None, None
        return max_pool2d_backward(dy, argmax, ctx.input_shape, ctx.geo, ctx.channels_last), None, None

    @staticmethod
    def jvp(ctx, x_tangent, *_):
        (argmax,) = ctx.saved_tensors
        out_tangent = gather_at_maxima(x_tangent, argmax, ctx.geo)
        return (out_tangent,) + (None,) * ctx.num_index_outputs

    @staticmethod
    def vmap(info, in_dims, x, geo, return_indices):
        return vmap_folding_batch(MaxPool2dFunction.apply, in_dims, x, geo, return_indices)


def max_pool2d(
    x: torch.Tensor,
    kernel_size=3,
    stride=2,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
    *,
    backend: str = "auto",
):
    """2-D max pooling, the paper's overlapping 3x3 stride-2 by default; same results as ``F.max_pool2d``.

    Args:
        x: (N, C, H, W) or unbatched (C, H, W); float16/bfloat16/float32/float64; any strides.
        kernel_size, stride, padding, dilation: ints or (h, w) pairs; ``stride=None`` means ``kernel_size``.
        ceil_mode: round the output size up, as in PyTorch.
        return_indices: also return int64 indices ``h * W + w`` of each maximum within its plane.
        backend: ``"triton"``, ``"torch"`` (``F.max_pool2d``) or ``"auto"`` (see ``kernels.lrn``).

    Returns:
        out: (N, C, OH, OW) (channels-last if x is), and indices of the same shape if ``return_indices``.
    """
    op = "max_pool2d"
    check_float_tensor(x, "x", op, ranks=(3, 4), layouts={3: "(C, H, W)", 4: "(N, C, H, W)"})
    geo = pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode, op)
    if resolve_backend(backend, x, op) == "torch":
        kernel, strides = (geo.KH, geo.KW), (geo.SH, geo.SW)
        pads, dilations = (geo.PH, geo.PW), (geo.DH, geo.DW)
        return F.max_pool2d(x, kernel, strides, pads, dilations, ceil_mode=ceil_mode, return_indices=return_indices)
    out, _, *indices = MaxPool2dFunction.apply(x.unsqueeze(0) if x.dim() == 3 else x, geo, return_indices)
    result = (out, *indices)
    if x.dim() == 3:
        result = tuple(r.squeeze(0) for r in result)
    return result if return_indices else result[0]


class MaxPool2d(torch.nn.Module):
    """Module form of :func:`max_pool2d`; same arguments."""

    def __init__(
        self, kernel_size=3, stride=2, padding=0, dilation=1, ceil_mode=False, return_indices=False, *, backend="auto"
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.ceil_mode, self.return_indices, self.backend = ceil_mode, return_indices, backend

    def forward(self, x: torch.Tensor):
        return max_pool2d(
            x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.return_indices,
            backend=self.backend,
        )  # fmt: skip

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}, backend={self.backend!r}"
        )
