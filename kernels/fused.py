r"""The paper's post-convolution chain of layers 1 and 2, ReLU -> LRN -> overlapping max-pool, in one pass.

With r = max(x, 0), s_i = k + alpha * sum_{j in window(i)} r_j^2 and b_i = r_i s_i^(-beta) (``kernels.lrn``):

    out = max_pool2d(b)          (``kernels.max_pool2d``'s conventions: first maximum wins, NaN wins)

Forward evaluates b only at the cells each pooling window reads, keeps the running maximum, and writes the
pooled output plus the int8 window position of each maximum. Neither r nor b ever reaches memory.

Backward recomputes instead of storing: with dB the gradient of b (dy routed to each window's maximum, as in
``kernels.max_pool2d``'s backward) and v_j = dB_j s_j^(-beta),

    dx_i = [x_i > 0] * (v_i - 2 beta sum_{j : i in window(j)} v_j (alpha r_i r_j / s_j))

(grouped as in ``kernels.lrn`` so that no factor underflows in fp32 at large activations).

The backward is ``kernels.lrn``'s channel sweep: one program per sample and tile of input cells keeps the last
``size`` channels' r, v and r/s in register rings, and gathers dB_j for each channel once, from the (at most
four, for 3x3/2) windows that contain the cell. Each element of x, dy and the positions is read a constant
number of times. Saved for backward: x and one byte per output
cell, against the unfused chain's ReLU output, LRN output, LRN intermediates and int64 pooling indices.
"""

from __future__ import annotations

import torch

from . import reference
from ._dispatch import check_float_tensor, check_same_device, resolve_backend, vmap_folding_batch
from ._pool import PoolGeometry, argmax_dtype, decode_nchw, gather_pool_grad, is_channels_last, pool_geometry
from ._triton import tl, triton
from ._utils import flat_block, flat_offsets, relu, ring_push, ring_row, spatial_block, spatial_tile, take_max, to_acc
from .lrn import LRNFunction, check_lrn_hyper, lrn_denominator, pow_neg, split_beta
from .maxpool import gather_at_maxima, scatter_to_maxima

__all__ = ["relu_lrn_max_pool2d", "ReLULRNMaxPool2d", "ReLULRNMaxPool2dFunction"]


@triton.jit
def _relu_lrn_max_pool2d_forward_kernel(
    x_ptr,  # conv output x, (N, C, H, W), any strides
    out_ptr,  # pooled output, (N, C, OH, OW), dense NCHW or NHWC (CHANNELS_LAST)
    argmax_ptr,  # window position kh * KW + kw of each maximum, int8, laid out like out
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
    alpha,  # already divided by size when alpha_over_size
    beta,
    beta_hi,  # split_beta(beta), for pow_neg
    k,
    SIZE: tl.constexpr,
    KH: tl.constexpr,
    KW: tl.constexpr,
    SH: tl.constexpr,
    SW: tl.constexpr,
    PH: tl.constexpr,
    PW: tl.constexpr,
    CHANNELS_LAST: tl.constexpr,
    ACC_FP64: tl.constexpr,
    INDEX_64: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = flat_offsets(BLOCK, INDEX_64)
    in_bounds = offs < total
    n, c, oh, ow = decode_nchw(offs, C, OH, OW, CHANNELS_LAST)
    x_sample = x_ptr + n.to(tl.int64) * stride_xn
    c64 = c.to(tl.int64)

    best = to_acc(tl.full((BLOCK,), float("-inf"), tl.float32), ACC_FP64)
    best_pos = tl.full((BLOCK,), -1, tl.int32)
    for kh in tl.static_range(KH):
        ih = oh * SH - PH + kh
        for kw in tl.static_range(KW):
            iw = ow * SW - PW + kw
            inside = in_bounds & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
            x_cell = x_sample + ih.to(tl.int64) * stride_xh + iw.to(tl.int64) * stride_xw  # channel 0 of the cell
            s = lrn_denominator(x_cell, c, C, stride_xc, inside, alpha, k, SIZE, ACC_FP64, RELU=True)
            r = relu(to_acc(tl.load(x_cell + c64 * stride_xc, mask=inside, other=0.0), ACC_FP64))
            b = r * pow_neg(s, beta, beta_hi, ACC_FP64)
            best, best_pos = take_max(b, best, best_pos, inside, kh * KW + kw)

    tl.store(out_ptr + offs, best.to(out_ptr.dtype.element_ty), mask=in_bounds)
    tl.store(argmax_ptr + offs, best_pos.to(argmax_ptr.dtype.element_ty), mask=in_bounds)


@triton.jit
def _relu_lrn_max_pool2d_backward_kernel(
    x_ptr,  # saved conv output x, (N, C, H, W), any strides
    dy_ptr,  # gradient of the pooled output, (N, C, OH, OW), any strides
    argmax_ptr,  # saved window positions, dense NCHW or NHWC like the forward output (CHANNELS_LAST)
    dx_ptr,  # gradient of x, (N, C, H, W), any strides
    C,
    H,
    W,
    OH,
    OW,
    stride_xn, stride_xc, stride_xh, stride_xw,  # fmt: skip
    stride_dyn, stride_dyc, stride_dyh, stride_dyw,  # fmt: skip
    stride_dxn, stride_dxc, stride_dxh, stride_dxw,  # fmt: skip
    alpha,
    beta,
    beta_hi,
    k,
    SIZE: tl.constexpr,
    RING: tl.constexpr,  # next power of two >= SIZE
    KH: tl.constexpr,
    KW: tl.constexpr,
    SH: tl.constexpr,
    SW: tl.constexpr,
    PH: tl.constexpr,
    PW: tl.constexpr,
    CHANNELS_LAST: tl.constexpr,
    ACC_FP64: tl.constexpr,
    BLOCK_HW: tl.constexpr,
):
    # kernels.lrn's backward sweep (one program per sample and tile of BLOCK_HW input cells, register rings over
    # the channels), with r = max(x, 0) for a and dB, gathered from the pooling windows whose maximum each cell
    # is, for dy. Every element of x, dy and argmax is read a constant number of times.
    LEAD: tl.constexpr = (SIZE - 1) // 2  # window(j) reaches this many channels after j
    LAG: tl.constexpr = SIZE // 2  # ... and this many before; i is in window(j) for j in [i - LEAD, i + LAG]
    pid_n, in_bounds, ih, iw = spatial_tile(H, W, BLOCK_HW)
    n = pid_n.to(tl.int64)
    x_base = x_ptr + n * stride_xn + ih.to(tl.int64) * stride_xh + iw.to(tl.int64) * stride_xw
    dx_base = dx_ptr + n * stride_dxn + ih.to(tl.int64) * stride_dxh + iw.to(tl.int64) * stride_dxw
    n_lanes = tl.zeros((BLOCK_HW,), tl.int32) + pid_n

    ring_r = to_acc(tl.zeros((RING, BLOCK_HW), tl.float32), ACC_FP64)  # r_q of the last SIZE channels
    ring_v = to_acc(tl.zeros((RING, BLOCK_HW), tl.float32), ACC_FP64)  # v_j = dB_j s_j^-beta
    ring_w = to_acc(tl.zeros((RING, BLOCK_HW), tl.float32), ACC_FP64)  # w_j = r_j / s_j
    for q in range(0, C + SIZE - 1):
        x_q = tl.load(x_base + tl.cast(q, tl.int64) * stride_xc, mask=in_bounds & (q < C), other=0.0)
        ring_r = ring_push(ring_r, relu(to_acc(x_q, ACC_FP64)), q, SIZE, RING)

        j = q - LEAD
        has_j = in_bounds & (j >= 0) & (j < C)
        s_j = k + tl.sum((alpha * ring_r) * ring_r, axis=0)
        r_j = relu(to_acc(tl.load(x_base + tl.cast(j, tl.int64) * stride_xc, mask=has_j, other=0.0), ACC_FP64))
        d_b = gather_pool_grad(
            dy_ptr, argmax_ptr, n_lanes, n_lanes * 0 + j, ih, iw, has_j, C, OH, OW,
            stride_dyn, stride_dyc, stride_dyh, stride_dyw,
            KH, KW, SH, SW, PH, PW, 1, 1, CHANNELS_LAST, ACC_FP64,
        )  # fmt: skip
        # Lanes without a channel j must hold exactly 0 (not 0 * inf when k = 0): they are summed below.
        ring_v = ring_push(ring_v, tl.where(has_j, d_b * pow_neg(s_j, beta, beta_hi, ACC_FP64), 0.0), q, SIZE, RING)
        ring_w = ring_push(ring_w, tl.where(has_j, r_j / s_j, 0.0), q, SIZE, RING)

        i = q - (SIZE - 1)
        has_i = in_bounds & (i >= 0)
        x_i = to_acc(tl.load(x_base + tl.cast(i, tl.int64) * stride_xc, mask=has_i, other=0.0), ACC_FP64)
        v_i = ring_row(ring_v, q + RING - LAG, RING)
        # Grouped as in kernels.lrn's backward, so that no factor underflows at large activations.
        cross = tl.sum(ring_v * ((alpha * relu(x_i))[None, :] * ring_w), axis=0)
        dx = tl.where(x_i > 0, v_i - 2.0 * beta * cross, 0.0)
        tl.store(dx_base + tl.cast(i, tl.int64) * stride_dxc, dx.to(dx_ptr.dtype.element_ty), mask=has_i)


# ----------------------------------------------------------------------------------------------- host side


def _launch_args(x: torch.Tensor, total: int) -> tuple[int, dict]:
    block, num_warps, index_64 = flat_block(total, x.device, heavy=True)
    return triton.cdiv(total, block), dict(INDEX_64=index_64, BLOCK=block, num_warps=num_warps)


def relu_lrn_max_pool2d_forward(
    x: torch.Tensor, hyper: tuple[int, float, float, float], geo: PoolGeometry
) -> tuple[torch.Tensor, torch.Tensor]:
    """Launch the fused forward on x: (N, C, H, W). Returns (pooled output, int8 window positions)."""
    check_float_tensor(x, "x", "relu_lrn_max_pool2d_forward", ranks=(4,))
    size, alpha, beta, k = hyper
    num_n, num_c, height, width = x.shape
    memory_format = torch.channels_last if is_channels_last(x) else torch.contiguous_format
    shape = (num_n, num_c, geo.OH, geo.OW)
    out = torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=memory_format)
    argmax = torch.empty(shape, dtype=argmax_dtype(geo.KH * geo.KW), device=x.device, memory_format=memory_format)
    if out.numel() == 0:
        return out, argmax
    grid, launch = _launch_args(x, out.numel())
    _relu_lrn_max_pool2d_forward_kernel[(grid,)](
        x, out, argmax, out.numel(), num_c, height, width, geo.OH, geo.OW, *x.stride(),
        alpha, beta, split_beta(beta), k, SIZE=size, **_pool_constants(geo),
        CHANNELS_LAST=memory_format == torch.channels_last, ACC_FP64=x.dtype == torch.float64, **launch,
    )  # fmt: skip
    return out, argmax


def relu_lrn_max_pool2d_backward(
    x: torch.Tensor, dy: torch.Tensor, argmax: torch.Tensor, hyper: tuple[int, float, float, float], geo: PoolGeometry
) -> torch.Tensor:
    """Launch the fused backward: saved x and window positions, dy (N, C, OH, OW) -> dx laid out like x."""
    check_float_tensor(x, "x", "relu_lrn_max_pool2d_backward", ranks=(4,))
    check_float_tensor(dy, "dy", "relu_lrn_max_pool2d_backward", ranks=(4,))
    check_same_device("relu_lrn_max_pool2d_backward", x=x, dy=dy, argmax=argmax)
    size, alpha, beta, k = hyper
    channels_last = is_channels_last(x)
    dx = torch.empty_like(x, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    if dx.numel() == 0:
        return dx
    num_n, num_c, height, width = x.shape
    block, num_warps = spatial_block(height * width, x.device, rings=3)
    _relu_lrn_max_pool2d_backward_kernel[(num_n * triton.cdiv(height * width, block),)](
        x, dy, argmax, dx, num_c, height, width, geo.OH, geo.OW, *x.stride(), *dy.stride(), *dx.stride(),
        alpha, beta, split_beta(beta), k, SIZE=size, RING=triton.next_power_of_2(size), **_pool_constants(geo),
        CHANNELS_LAST=channels_last, ACC_FP64=x.dtype == torch.float64, BLOCK_HW=block, num_warps=num_warps,
    )  # fmt: skip
    return dx


def _pool_constants(geo: PoolGeometry) -> dict[str, int]:
    constants = geo.constants()
    del constants["DH"], constants["DW"]  # the fused op has no dilation
    return constants


class ReLULRNMaxPool2dFunction(torch.autograd.Function):
    """Autograd glue: saves x and the int8 window positions; backward recomputes r, s and b.

    Returns (out, window positions); ``relu_lrn_max_pool2d`` drops the positions. Double backward,
    ``torch.func`` transforms and forward mode run the same chain in differentiable PyTorch ops, routed through
    the saved positions (see ``LRNFunction``).
    """

    @staticmethod
    def forward(x, hyper, geo):
        return relu_lrn_max_pool2d_forward(x, hyper, geo)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, hyper, geo = inputs
        argmax = output[1]
        ctx.mark_non_differentiable(argmax)
        ctx.save_for_backward(x, argmax)
        ctx.save_for_forward(x, argmax)
        ctx.hyper, ctx.geo = hyper, geo

    @staticmethod
    def backward(ctx, dy, _unused_position_grad):
        x, argmax = ctx.saved_tensors
        if not torch.is_grad_enabled():
            return relu_lrn_max_pool2d_backward(x, dy, argmax, ctx.hyper, ctx.geo), None, None
        d_b = scatter_to_maxima(dy, argmax, ctx.geo, tuple(x.shape))
        dx = reference.lrn_torch_backward(torch.relu(x), d_b, *ctx.hyper, composite=True)
        return torch.where(x > 0, dx, torch.zeros_like(dx)), None, None

    @staticmethod
    def jvp(ctx, x_tangent, *_):
        x, argmax = ctx.saved_tensors
        r_tangent = torch.where(x > 0, x_tangent, torch.zeros_like(x_tangent))
        b_tangent = reference.lrn_torch_jvp(torch.relu(x), r_tangent, *ctx.hyper)
        return gather_at_maxima(b_tangent, argmax, ctx.geo), None

    @staticmethod
    def vmap(info, in_dims, x, hyper, geo):
        return vmap_folding_batch(ReLULRNMaxPool2dFunction.apply, in_dims, x, hyper, geo)


def relu_lrn_max_pool2d(
    x: torch.Tensor,
    size: int = 5,
    alpha: float = 1e-4,
    beta: float = 0.75,
    k: float = 2.0,
    *,
    kernel_size=3,
    stride=2,
    padding=0,
    alpha_over_size: bool = False,
    backend: str = "auto",
) -> torch.Tensor:
    """``max_pool2d(lrn(relu(x)))`` in one kernel: what follows conv1 and conv2 in AlexNet.

    Args:
        x: conv output, (N, C, H, W), float16/bfloat16/float32/float64, any strides.
        size, alpha, beta, k, alpha_over_size: as in :func:`kernels.lrn` (the paper's constants by default).
        kernel_size, stride, padding: as in :func:`kernels.max_pool2d` (the paper's overlapping 3/2 by default).
        backend: ``"triton"``, ``"torch"`` (the three PyTorch-level ops) or ``"auto"`` (see ``kernels.lrn``).

    Returns:
        (N, C, OH, OW), channels-last if x is.

    Half precision: the Triton kernel computes b in fp32 and takes each window's maximum *before* rounding to
    fp16/bf16, so it returns the fp32 chain ``max_pool2d(lrn(relu(x.float()))).to(x.dtype)`` and routes the
    gradient to that chain's maxima. The eager chain (and ``backend="torch"``) rounds b first, and where two cells
    of a window round to one value it takes the first: in bf16 about 1% of windows then pick another cell (their
    gradients differ by up to ~0.3). Both are valid maxima; the fused choice is the more accurate one.
    """
    op = "relu_lrn_max_pool2d"
    check_float_tensor(x, "x", op, ranks=(4,))
    check_lrn_hyper(size, alpha, beta, k)
    geo = pool_geometry(x, kernel_size, stride, padding, 1, False, op)
    effective_alpha = alpha / size if alpha_over_size else alpha
    hyper = (int(size), float(effective_alpha), float(beta), float(k))
    if resolve_backend(backend, x, op) == "torch":
        b = LRNFunction.apply(torch.relu(x), *hyper, "torch")
        return torch.nn.functional.max_pool2d(b, (geo.KH, geo.KW), (geo.SH, geo.SW), (geo.PH, geo.PW))
    return ReLULRNMaxPool2dFunction.apply(x, hyper, geo)[0]


class ReLULRNMaxPool2d(torch.nn.Module):
    """Module form of :func:`relu_lrn_max_pool2d`; same arguments."""

    def __init__(
        self,
        size: int = 5,
        alpha: float = 1e-4,
        beta: float = 0.75,
        k: float = 2.0,
        *,
        kernel_size=3,
        stride=2,
        padding=0,
        alpha_over_size: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        check_lrn_hyper(size, alpha, beta, k)
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.alpha_over_size, self.backend = alpha_over_size, backend

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return relu_lrn_max_pool2d(
            x, self.size, self.alpha, self.beta, self.k, kernel_size=self.kernel_size, stride=self.stride,
            padding=self.padding, alpha_over_size=self.alpha_over_size, backend=self.backend,
        )  # fmt: skip

    def extra_repr(self) -> str:
        return (
            f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, alpha_over_size={self.alpha_over_size}, "
            f"backend={self.backend!r}"
        )
