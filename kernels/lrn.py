r"""Cross-channel Local Response Normalization (Krizhevsky et al. 2012, section 3.3) in Triton.

Forward, with a_i the activity of channel i at one (n, h, w) and n = ``size``:

    s_i = k + alpha * sum_{j in window(i)} a_j^2          window(i) = [i - n//2, i + (n-1)//2] ∩ [0, C)
    b_i = a_i * s_i^(-beta)

The paper writes ``alpha``; its own code (cuda-convnet ``cmrnorm``), Caffe and
``torch.nn.functional.local_response_norm`` use ``alpha / n``. ``alpha_over_size=True`` selects the latter, and
then ``lrn`` equals ``F.local_response_norm`` (same window placement, also for even sizes). With the paper's
hyper-parameters (n=5, alpha=1e-4, beta=0.75, k=2) the two differ by a factor 5 in alpha; at AlexNet's
activation scales that changes b by well under 1%, but it is not the same function.

Backward. Only b_j with i in window(j) depend on a_i, and ds_j/da_i = 2 alpha a_i there, so

    dx_i = v_i - 2 beta sum_{j : i in window(j)} v_j * (alpha a_i a_j / s_j),     v_j = dy_j s_j^(-beta)

where j runs over [i - (n-1)//2, i + n//2]. The textbook form groups the last factor as
``dy_j a_j s_j^(-beta-1)``, and s^(-beta-1) underflows fp32 at large activations (|a| ~ 1e15: s ~ 1e26); here
every factor stays within a few orders of magnitude of 1 (alpha a_i a_j / s_j <= 1/2 for i = j, and is
bounded likewise for neighbours), so fp32 keeps full precision wherever the result itself is representable.
Likewise alpha a^2 is formed as (alpha a) a so that it cannot overflow before s does.

Design: one program per (sample, tile of BLOCK_HW spatial positions) sweeps the channels once. The last
``size`` channels' values live in a ring of registers, (RING, BLOCK_HW) with RING the next power of two:
each channel enters once and leaves by being overwritten, and every window sum is a plain sum over the ring.
Nothing is ever subtracted from a running sum, so one inf or NaN stays in the windows that hold it instead of
spreading inf - inf = NaN to every later channel, and fp32 error does not grow with C. Each input element is
loaded from global memory a constant number of times (the ring entry, plus re-reads that hit L1). Only the
input ``a`` is saved for backward: s and v are cheap to recompute, and storing s would cost a full extra
write and read.
"""

from __future__ import annotations

import math
import numbers
import struct

import torch

from . import reference
from ._dispatch import check_float_tensor, check_same_device, resolve_backend, vmap_folding_batch
from ._triton import tl, triton
from ._utils import relu, ring_push, ring_row, spatial_block, spatial_tile, to_acc

__all__ = ["lrn", "LocalResponseNorm", "LRNFunction", "lrn_forward", "lrn_backward"]


# ----------------------------------------------------------------------------------------------- LRN's pieces, shared
# with the fused ReLU -> LRN -> max-pool kernel


def split_beta(beta: float) -> float:
    """beta rounded to fp32 and then to 16 significant bits: ``beta_hi`` for ``pow_neg``.

    16 bits times an 8-bit exponent fit fp32's 24-bit significand, so the kernel's beta_hi * e is exact.
    """
    (bits,) = struct.unpack("<I", struct.pack("<f", beta))
    (beta_hi,) = struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFF00))
    return beta_hi


@triton.jit
def pow_neg(s, beta, beta_hi, ACC_FP64: tl.constexpr):
    """s^(-beta) for s >= 0 (inf at 0, 0 at inf, NaN kept), within a few ulp at any magnitude of s.

    ``exp2(-beta * log2(s))`` alone (libdevice's pow is not available in Triton's interpreter) is off by
    |beta log2 s| * 2^-24 relatively, 3e-6 at s ~ 1e18, where the LRN gradient's two terms cancel. So in fp32
    s = m 2^e with m in [1, 2), beta = beta_hi + beta_lo with beta_hi (``split_beta``) short enough to make
    t = -beta_hi e exact, and

        s^-beta = 2^floor(t) * 2^((t - floor(t)) - beta_lo e - beta log2 m)

    where the second exponent is small and its rounding error is ~1e-7 absolute. fp64 needs no such care.
    """
    if ACC_FP64:
        return tl.exp2(-beta * tl.log2(s))
    else:
        bits = s.to(tl.int32, bitcast=True)
        e = (((bits >> 23) & 0xFF) - 127).to(tl.float32)
        m = ((bits & 0x007FFFFF) | 0x3F800000).to(tl.float32, bitcast=True)
        beta_lo = beta - beta_hi
        t = -beta_hi * e
        t_int = tl.floor(t)
        fine = tl.exp2(((t - t_int) - beta_lo * e) - beta * tl.log2(m)) * tl.exp2(t_int)
        normal = (s >= 1.1754943508222875e-38) & (s <= 3.4028234663852886e38)  # not 0, subnormal, inf or NaN
        return tl.where(normal, fine, tl.exp2(-beta * tl.log2(s)))


def check_lrn_hyper(size, alpha, beta, k) -> None:
    """The LRN hyper-parameters: an integer window size and finite alpha, beta, k that give a positive base."""
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"lrn: size must be an integer >= 1 (channels in the window), got {size!r}")
    for name, value in (("alpha", alpha), ("beta", beta), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"lrn: {name} must be a finite real number, got {value!r}")
    if alpha < 0:
        raise ValueError(f"lrn: alpha must be >= 0, got {alpha!r}")
    if k < 0:
        raise ValueError(f"lrn: k must be >= 0 (a negative k can make the base negative), got {k!r}")
    if k == 0 and alpha == 0:
        raise ValueError("lrn: k must be > 0 when alpha is 0, otherwise every output is 0 / 0")


@triton.jit
def lrn_denominator(
    x_base,  # pointers to channel 0 of this tile, (BLOCK_HW,)
    c,  # channel whose window is summed (may lie outside [0, C): then s = k)
    C,
    stride_xc,
    in_bounds,  # (BLOCK_HW,) spatial positions inside the plane
    alpha,
    k,
    SIZE: tl.constexpr,
    ACC_FP64: tl.constexpr,
    RELU: tl.constexpr = False,  # a = max(x, 0): the fused ReLU -> LRN -> pool kernel
):
    """s_c = k + sum_{j in window(c)} (alpha a_j) a_j, read channel by channel (the fused kernel's random access)."""
    sum_sq = to_acc(tl.zeros(in_bounds.shape, tl.float32), ACC_FP64)
    for d in tl.static_range(SIZE):
        j = c - SIZE // 2 + d
        a_j = tl.load(x_base + tl.cast(j, tl.int64) * stride_xc, mask=in_bounds & (j >= 0) & (j < C), other=0.0)
        a_j = to_acc(a_j, ACC_FP64)
        if RELU:
            a_j = relu(a_j)
        sum_sq += (alpha * a_j) * a_j
    return k + sum_sq


# ----------------------------------------------------------------------------------------------- the kernels


@triton.jit
def _lrn_forward_kernel(
    x_ptr,  # input a, (N, C, H, W), any strides
    y_ptr,  # output b, (N, C, H, W), any strides
    C,
    H,
    W,
    stride_xn, stride_xc, stride_xh, stride_xw,  # fmt: skip
    stride_yn, stride_yc, stride_yh, stride_yw,  # fmt: skip
    alpha,  # already divided by size when alpha_over_size
    beta,
    beta_hi,  # split_beta(beta), for pow_neg
    k,
    SIZE: tl.constexpr,  # channels in the window
    RING: tl.constexpr,  # next power of two >= SIZE: rows of the register ring
    BLOCK_HW: tl.constexpr,  # spatial positions per program
    ACC_FP64: tl.constexpr,
):
    LEAD: tl.constexpr = (SIZE - 1) // 2  # window(c) reaches this many channels after c
    pid_n, in_bounds, offs_h, offs_w = spatial_tile(H, W, BLOCK_HW)
    # int64: N * C * H * W can pass 2**31 (AlexNet's conv1 output at batch 128 is 37M, at batch 8192 2.4G).
    n = pid_n.to(tl.int64)
    x_base = x_ptr + n * stride_xn + offs_h.to(tl.int64) * stride_xh + offs_w.to(tl.int64) * stride_xw
    y_base = y_ptr + n * stride_yn + offs_h.to(tl.int64) * stride_yh + offs_w.to(tl.int64) * stride_yw

    # ring holds a_j for the channels j of window(c); channel q enters at step q - LEAD.
    ring = to_acc(tl.zeros((RING, BLOCK_HW), tl.float32), ACC_FP64)
    for j in tl.static_range(LEAD):
        a_j = tl.load(x_base + j * stride_xc, mask=in_bounds & (j < C), other=0.0)
        ring = ring_push(ring, to_acc(a_j, ACC_FP64), j, SIZE, RING)
    for c in range(0, C):
        q = c + LEAD
        a_q = tl.load(x_base + tl.cast(q, tl.int64) * stride_xc, mask=in_bounds & (q < C), other=0.0)
        ring = ring_push(ring, to_acc(a_q, ACC_FP64), q, SIZE, RING)
        s = k + tl.sum((alpha * ring) * ring, axis=0)
        a = to_acc(tl.load(x_base + tl.cast(c, tl.int64) * stride_xc, mask=in_bounds, other=0.0), ACC_FP64)
        b = a * pow_neg(s, beta, beta_hi, ACC_FP64)
        tl.store(y_base + tl.cast(c, tl.int64) * stride_yc, b.to(y_ptr.dtype.element_ty), mask=in_bounds)


@triton.jit
def _lrn_backward_kernel(
    x_ptr,  # saved input a, (N, C, H, W), any strides
    dy_ptr,  # gradient of the output b, (N, C, H, W), any strides
    dx_ptr,  # gradient of the input, (N, C, H, W), any strides
    C,
    H,
    W,
    stride_xn, stride_xc, stride_xh, stride_xw,  # fmt: skip
    stride_dyn, stride_dyc, stride_dyh, stride_dyw,  # fmt: skip
    stride_dxn, stride_dxc, stride_dxh, stride_dxw,  # fmt: skip
    alpha,
    beta,
    beta_hi,
    k,
    SIZE: tl.constexpr,
    RING: tl.constexpr,
    BLOCK_HW: tl.constexpr,
    ACC_FP64: tl.constexpr,
):
    LEAD: tl.constexpr = (SIZE - 1) // 2  # window(j) reaches this many channels after j
    LAG: tl.constexpr = SIZE // 2  # ... and this many before; i is in window(j) for j in [i - LEAD, i + LAG]
    pid_n, in_bounds, offs_h, offs_w = spatial_tile(H, W, BLOCK_HW)
    n, offs_h, offs_w = pid_n.to(tl.int64), offs_h.to(tl.int64), offs_w.to(tl.int64)
    x_base = x_ptr + n * stride_xn + offs_h * stride_xh + offs_w * stride_xw
    dy_base = dy_ptr + n * stride_dyn + offs_h * stride_dyh + offs_w * stride_dyw
    dx_base = dx_ptr + n * stride_dxn + offs_h * stride_dxh + offs_w * stride_dxw

    # A three-stage pipeline over one channel sweep: at step q, channel q enters ring_a; j = q - LEAD then has
    # its whole window in ring_a and gets s_j, v_j, w_j = a_j / s_j; and i = j - LAG = q - (SIZE - 1) has every
    # j with i in window(j) in ring_v / ring_w, so dx_i is complete.
    ring_a = to_acc(tl.zeros((RING, BLOCK_HW), tl.float32), ACC_FP64)
    ring_v = to_acc(tl.zeros((RING, BLOCK_HW), tl.float32), ACC_FP64)
    ring_w = to_acc(tl.zeros((RING, BLOCK_HW), tl.float32), ACC_FP64)
    for q in range(0, C + SIZE - 1):
        a_q = tl.load(x_base + tl.cast(q, tl.int64) * stride_xc, mask=in_bounds & (q < C), other=0.0)
        ring_a = ring_push(ring_a, to_acc(a_q, ACC_FP64), q, SIZE, RING)

        j = q - LEAD
        has_j = in_bounds & (j >= 0) & (j < C)
        s_j = k + tl.sum((alpha * ring_a) * ring_a, axis=0)
        a_j = to_acc(tl.load(x_base + tl.cast(j, tl.int64) * stride_xc, mask=has_j, other=0.0), ACC_FP64)
        dy_j = to_acc(tl.load(dy_base + tl.cast(j, tl.int64) * stride_dyc, mask=has_j, other=0.0), ACC_FP64)
        # Lanes without a channel j must hold exactly 0 (not 0 * inf when k = 0): they are summed below.
        v_j = tl.where(has_j, dy_j * pow_neg(s_j, beta, beta_hi, ACC_FP64), 0.0)
        w_j = tl.where(has_j, a_j / s_j, 0.0)
        ring_v = ring_push(ring_v, v_j, q, SIZE, RING)
        ring_w = ring_push(ring_w, w_j, q, SIZE, RING)

        i = q - (SIZE - 1)
        has_i = in_bounds & (i >= 0)
        a_i = to_acc(tl.load(x_base + tl.cast(i, tl.int64) * stride_xc, mask=has_i, other=0.0), ACC_FP64)
        v_i = ring_row(ring_v, q + RING - LAG, RING)  # pushed LAG steps ago, when j was i
        cross = tl.sum(ring_v * ((alpha * a_i)[None, :] * ring_w), axis=0)
        dx = v_i - 2.0 * beta * cross
        tl.store(dx_base + tl.cast(i, tl.int64) * stride_dxc, dx.to(dx_ptr.dtype.element_ty), mask=has_i)


def _as_4d(t: torch.Tensor) -> torch.Tensor:
    # (N, C, L) -> (N, C, 1, L) is a view, whatever t's strides.
    return t.unsqueeze(2) if t.dim() == 3 else t


def lrn_forward(x: torch.Tensor, size: int, alpha: float, beta: float, k: float) -> torch.Tensor:
    """Launch the forward kernel. x: (N, C, H, W) or (N, C, L), any strides -> b, same shape and layout.

    ``alpha`` is the effective coefficient (already divided by ``size`` for the ``alpha / n`` convention).
    """
    check_float_tensor(x, "x", "lrn_forward", ranks=(3, 4))
    y = torch.empty_like(x)
    if x.numel() == 0:
        return y
    x4, y4 = _as_4d(x), _as_4d(y)
    num_n, num_c, height, width = x4.shape
    block, num_warps = spatial_block(height * width, x.device, rings=1)
    grid = (num_n * triton.cdiv(height * width, block),)
    _lrn_forward_kernel[grid](
        x4, y4, num_c, height, width, *x4.stride(), *y4.stride(), float(alpha), float(beta), split_beta(beta), float(k),
        SIZE=size, RING=triton.next_power_of_2(size), BLOCK_HW=block, ACC_FP64=x.dtype == torch.float64,
        num_warps=num_warps,
    )  # fmt: skip
    return y


def lrn_backward(
    x: torch.Tensor, dy: torch.Tensor, size: int, alpha: float, beta: float, k: float
) -> torch.Tensor:
    """Launch the backward kernel. x, dy: same shape, any strides -> dx, laid out like x."""
    check_float_tensor(x, "x", "lrn_backward", ranks=(3, 4))
    check_float_tensor(dy, "dy", "lrn_backward", ranks=(3, 4))
    check_same_device("lrn_backward", x=x, dy=dy)
    if dy.shape != x.shape:
        raise ValueError(f"lrn_backward: dy must have x's shape {tuple(x.shape)}, got {tuple(dy.shape)}")
    dx = torch.empty_like(x)
    if x.numel() == 0:
        return dx
    x4, dy4, dx4 = _as_4d(x), _as_4d(dy), _as_4d(dx)
    num_n, num_c, height, width = x4.shape
    block, num_warps = spatial_block(height * width, x.device, rings=3)
    grid = (num_n * triton.cdiv(height * width, block),)
    _lrn_backward_kernel[grid](
        x4, dy4, dx4, num_c, height, width, *x4.stride(), *dy4.stride(), *dx4.stride(),
        float(alpha), float(beta), split_beta(beta), float(k),
        SIZE=size, RING=triton.next_power_of_2(size), BLOCK_HW=block, ACC_FP64=x.dtype == torch.float64,
        num_warps=num_warps,
    )  # fmt: skip
    return dx


class LRNFunction(torch.autograd.Function):
    """Autograd glue: saves only the input; backward recomputes s (see the module docstring).

    The Triton backward runs in a plain ``backward()``. When autograd records the backward itself (a double
    backward with ``create_graph=True``, or a ``torch.func`` transform) the differentiable PyTorch composite runs
    instead, so higher derivatives are exact rather than silently cut. ``vmap`` folds the vmapped dim into N;
    ``jvp`` (forward mode: ``torch.func.jvp``, ``jacfwd``) uses the closed-form derivative.
    """

    @staticmethod
    def forward(x, size, alpha, beta, k, backend):
        if backend == "triton":
            return lrn_forward(x, size, alpha, beta, k)
        return reference.lrn_torch_forward(x, size, alpha, beta, k)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, size, alpha, beta, k, backend = inputs
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        ctx.hyper, ctx.backend = (size, alpha, beta, k), backend

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        recorded = torch.is_grad_enabled()  # autograd records this backward: double backward or torch.func
        if ctx.backend == "triton" and not recorded:
            dx = lrn_backward(x, dy, *ctx.hyper)
        else:
            dx = reference.lrn_torch_backward(x, dy, *ctx.hyper, composite=recorded)
        return dx, None, None, None, None, None

    @staticmethod
    def jvp(ctx, x_tangent, *_):
        (x,) = ctx.saved_tensors
        return reference.lrn_torch_jvp(x, x_tangent, *ctx.hyper)

    @staticmethod
    def vmap(info, in_dims, x, size, alpha, beta, k, backend):
        return vmap_folding_batch(LRNFunction.apply, in_dims, x, size, alpha, beta, k, backend)


def lrn(
    x: torch.Tensor,
    size: int = 5,
    alpha: float = 1e-4,
    beta: float = 0.75,
    k: float = 2.0,
    *,
    alpha_over_size: bool = False,
    backend: str = "auto",
) -> torch.Tensor:
    """Cross-channel Local Response Normalization, ``b_i = a_i / (k + alpha * sum_j a_j^2) ** beta``.

    Args:
        x: (N, C, H, W) or (N, C, L), float16/bfloat16/float32/float64, any strides (channels-last too).
        size: channels in the window (the paper's n), centred on i and clipped at the first and last channel.
        alpha, beta, k: the paper's constants; defaults are the paper's (section 3.3).
        alpha_over_size: use ``alpha / size``, the convention of cuda-convnet, Caffe and
            ``torch.nn.functional.local_response_norm`` (which this then matches), instead of the paper's text.
        backend: ``"triton"``, ``"torch"`` or ``"auto"`` (Triton on CUDA, and on the CPU when
            ``TRITON_INTERPRET=1``; PyTorch otherwise).

    Returns:
        b, same shape, dtype and memory layout as x.
    """
    check_float_tensor(x, "x", "lrn", ranks=(3, 4))
    check_lrn_hyper(size, alpha, beta, k)
    chosen = resolve_backend(backend, x, "lrn")
    effective_alpha = alpha / size if alpha_over_size else alpha
    return LRNFunction.apply(x, int(size), float(effective_alpha), float(beta), float(k), chosen)


class LocalResponseNorm(torch.nn.Module):
    """Module form of :func:`lrn`; same arguments."""

    def __init__(
        self,
        size: int = 5,
        alpha: float = 1e-4,
        beta: float = 0.75,
        k: float = 2.0,
        *,
        alpha_over_size: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        check_lrn_hyper(size, alpha, beta, k)
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k
        self.alpha_over_size = alpha_over_size
        self.backend = backend

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lrn(
            x, self.size, self.alpha, self.beta, self.k, alpha_over_size=self.alpha_over_size, backend=self.backend
        )

    def extra_repr(self) -> str:
        return (
            f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}, "
            f"alpha_over_size={self.alpha_over_size}, backend={self.backend!r}"
        )
