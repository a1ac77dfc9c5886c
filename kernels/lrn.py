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

    dx_i = dy_i s_i^(-beta) - 2 alpha beta a_i * T_i
    T_i  = sum_{j : i in window(j)} t_j = sum_{j = i - (n-1)//2}^{i + n//2} t_j,     t_j = dy_j a_j s_j^(-beta-1)

Design: one program per (sample, tile of BLOCK_HW spatial positions) sweeps the channels. s_i is the sum over
its window, re-read from L1/L2 (each element comes from DRAM once); T_i is a running window sum over t (add
the t entering the window, subtract the t leaving it). t_j is recomputed identically on entry and exit, so what
is subtracted is bit-for-bit what was added. Only the input ``a`` is saved for backward: s and t are cheap to
recompute and storing s would cost a full extra write and read.
"""

from __future__ import annotations

import math
import numbers

import torch

from . import reference
from ._utils import (
    check_float_tensor,
    check_same_device,
    relu,
    resolve_backend,
    spatial_block,
    tl,
    to_acc,
    triton,
)

__all__ = ["lrn", "LocalResponseNorm", "LRNFunction", "lrn_forward", "lrn_backward"]


@triton.jit
def _lrn_denominator(
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
    """s_c = k + alpha * sum_{j in window(c)} a_j^2."""
    sum_sq = to_acc(tl.zeros(in_bounds.shape, tl.float32), ACC_FP64)
    for d in tl.static_range(SIZE):
        j = c - SIZE // 2 + d
        a_j = tl.load(x_base + tl.cast(j, tl.int64) * stride_xc, mask=in_bounds & (j >= 0) & (j < C), other=0.0)
        a_j = to_acc(a_j, ACC_FP64)
        if RELU:
            a_j = relu(a_j)
        sum_sq += a_j * a_j
    return k + alpha * sum_sq


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
    k,
    SIZE: tl.constexpr,  # channels in the window
    BLOCK_HW: tl.constexpr,  # spatial positions per program
    ACC_FP64: tl.constexpr,
):
    num_hw = H * W
    num_tiles = tl.cdiv(num_hw, BLOCK_HW)
    pid = tl.program_id(0)
    pid_n = pid // num_tiles
    pid_hw = pid % num_tiles
    offs_hw = pid_hw * BLOCK_HW + tl.arange(0, BLOCK_HW)
    in_bounds = offs_hw < num_hw
    offs_h = (offs_hw // W).to(tl.int64)
    offs_w = (offs_hw % W).to(tl.int64)
    # int64: N * C * H * W can pass 2**31 (AlexNet's conv1 output at batch 128 is 37M, at batch 8192 2.4G).
    x_base = x_ptr + pid_n.to(tl.int64) * stride_xn + offs_h * stride_xh + offs_w * stride_xw
    y_base = y_ptr + pid_n.to(tl.int64) * stride_yn + offs_h * stride_yh + offs_w * stride_yw

    for c in range(0, C):
        s = _lrn_denominator(x_base, c, C, stride_xc, in_bounds, alpha, k, SIZE, ACC_FP64)
        a = to_acc(tl.load(x_base + tl.cast(c, tl.int64) * stride_xc, mask=in_bounds, other=0.0), ACC_FP64)
        # s^-beta via exp2/log2: s >= k > 0 (or alpha * a^2 > 0), and libdevice's pow is not available in
        # Triton's interpreter.
        b = a * tl.exp2(-beta * tl.log2(s))
        tl.store(y_base + tl.cast(c, tl.int64) * stride_yc, b.to(y_ptr.dtype.element_ty), mask=in_bounds)


@triton.jit
def _lrn_t(
    x_base,
    dy_base,
    j,  # channel; t_j = 0 outside [0, C)
    C,
    stride_xc,
    stride_dyc,
    in_bounds,
    alpha,
    beta,
    k,
    SIZE: tl.constexpr,
    ACC_FP64: tl.constexpr,
):
    """t_j = dy_j a_j s_j^(-beta-1)."""
    valid = in_bounds & (j >= 0) & (j < C)
    s_j = _lrn_denominator(x_base, j, C, stride_xc, in_bounds, alpha, k, SIZE, ACC_FP64)
    a_j = to_acc(tl.load(x_base + tl.cast(j, tl.int64) * stride_xc, mask=valid, other=0.0), ACC_FP64)
    dy_j = to_acc(tl.load(dy_base + tl.cast(j, tl.int64) * stride_dyc, mask=valid, other=0.0), ACC_FP64)
    t_j = dy_j * a_j * tl.exp2((-beta - 1.0) * tl.log2(s_j))
    # Masked lanes must give exactly 0 (not 0 * inf when k = 0), or they would poison the running sum.
    return tl.where(valid, t_j, 0.0)


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
    k,
    SIZE: tl.constexpr,
    BLOCK_HW: tl.constexpr,
    ACC_FP64: tl.constexpr,
):
    LEAD: tl.constexpr = SIZE // 2  # T_i reaches this many channels after i
    LAG: tl.constexpr = (SIZE - 1) // 2  # ... and this many before
    num_hw = H * W
    num_tiles = tl.cdiv(num_hw, BLOCK_HW)
    pid = tl.program_id(0)
    pid_n = pid // num_tiles
    pid_hw = pid % num_tiles
    offs_hw = pid_hw * BLOCK_HW + tl.arange(0, BLOCK_HW)
    in_bounds = offs_hw < num_hw
    offs_h = (offs_hw // W).to(tl.int64)
    offs_w = (offs_hw % W).to(tl.int64)
    n = pid_n.to(tl.int64)
    x_base = x_ptr + n * stride_xn + offs_h * stride_xh + offs_w * stride_xw
    dy_base = dy_ptr + n * stride_dyn + offs_h * stride_dyh + offs_w * stride_dyw
    dx_base = dx_ptr + n * stride_dxn + offs_h * stride_dxh + offs_w * stride_dxw

    # Prime the running sum with t_j for j in [-LAG, LEAD - 1]: what T_0 holds before t_LEAD enters.
    t_sum = to_acc(tl.zeros((BLOCK_HW,), tl.float32), ACC_FP64)
    for j in range(0, LEAD):
        t_sum += _lrn_t(x_base, dy_base, j, C, stride_xc, stride_dyc, in_bounds, alpha, beta, k, SIZE, ACC_FP64)

    for c in range(0, C):
        t_sum += _lrn_t(
            x_base, dy_base, c + LEAD, C, stride_xc, stride_dyc, in_bounds, alpha, beta, k, SIZE, ACC_FP64
        )
        t_sum -= _lrn_t(
            x_base, dy_base, c - LAG - 1, C, stride_xc, stride_dyc, in_bounds, alpha, beta, k, SIZE, ACC_FP64
        )
        s = _lrn_denominator(x_base, c, C, stride_xc, in_bounds, alpha, k, SIZE, ACC_FP64)
        a = to_acc(tl.load(x_base + tl.cast(c, tl.int64) * stride_xc, mask=in_bounds, other=0.0), ACC_FP64)
        dy = to_acc(tl.load(dy_base + tl.cast(c, tl.int64) * stride_dyc, mask=in_bounds, other=0.0), ACC_FP64)
        dx = dy * tl.exp2(-beta * tl.log2(s)) - 2.0 * alpha * beta * a * t_sum
        tl.store(dx_base + tl.cast(c, tl.int64) * stride_dxc, dx.to(dx_ptr.dtype.element_ty), mask=in_bounds)


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
    block, num_warps = spatial_block(height * width, x.device)
    grid = (num_n * triton.cdiv(height * width, block),)
    _lrn_forward_kernel[grid](
        x4, y4, num_c, height, width, *x4.stride(), *y4.stride(), float(alpha), float(beta), float(k),
        SIZE=size, BLOCK_HW=block, ACC_FP64=x.dtype == torch.float64, num_warps=num_warps,
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
    block, num_warps = spatial_block(height * width, x.device)
    grid = (num_n * triton.cdiv(height * width, block),)
    _lrn_backward_kernel[grid](
        x4, dy4, dx4, num_c, height, width, *x4.stride(), *dy4.stride(), *dx4.stride(),
        float(alpha), float(beta), float(k),
        SIZE=size, BLOCK_HW=block, ACC_FP64=x.dtype == torch.float64, num_warps=num_warps,
    )  # fmt: skip
    return dx


class LRNFunction(torch.autograd.Function):
    """Autograd glue: saves only the input; backward recomputes s (see the module docstring)."""

    @staticmethod
    def forward(ctx, x, size, alpha, beta, k, backend):
        ctx.save_for_backward(x)
        ctx.hyper = (size, alpha, beta, k)
        ctx.backend = backend
        if backend == "triton":
            return lrn_forward(x, size, alpha, beta, k)
        return reference.lrn_torch_forward(x, size, alpha, beta, k)

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        if ctx.backend == "triton":
            dx = lrn_backward(x, dy, *ctx.hyper)
        else:
            dx = reference.lrn_torch_backward(x, dy, *ctx.hyper)
        return dx, None, None, None, None, None


def _check_hyper(size, alpha, beta, k) -> None:
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
    _check_hyper(size, alpha, beta, k)
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
        _check_hyper(size, alpha, beta, k)
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
