"""What the max-pool and fused ReLU -> LRN -> max-pool kernels share: the pooling geometry (checked as ATen checks
it, with errors naming the argument), the output layout rules, and two Triton helpers (decoding flat offsets,
gathering a pooled gradient back through the saved window positions)."""

from __future__ import annotations

import numbers
from typing import NamedTuple

import torch

from ._triton import tl, triton
from ._utils import to_acc


class PoolGeometry(NamedTuple):
    """A pooling window (kernel KH x KW, stride, padding, dilation) and the output size OH x OW it gives."""

    KH: int
    KW: int
    SH: int
    SW: int
    PH: int
    PW: int
    DH: int
    DW: int
    OH: int
    OW: int

    def constants(self) -> dict[str, int]:
        """The window's ``tl.constexpr`` arguments of the kernels (all but the output size)."""
        return {key: getattr(self, key) for key in ("KH", "KW", "SH", "SW", "PH", "PW", "DH", "DW")}


@triton.jit
def decode_nchw(offs, C, H, W, CHANNELS_LAST: tl.constexpr):
    """(n, c, h, w) of flat offsets into a dense (N, C, H, W) tensor stored NCHW or NHWC."""
    if CHANNELS_LAST:
        c = offs % C
        rest = offs // C
        w = rest % W
        rest = rest // W
        h = rest % H
        n = rest // H
    else:
        w = offs % W
        rest = offs // W
        h = rest % H
        rest = rest // H
        c = rest % C
        n = rest // C
    return n, c, h, w


@triton.jit
def gather_pool_grad(
    dy_ptr,
    argmax_ptr,
    n,
    c,
    ih,
    iw,
    valid,  # lanes that hold a real input cell (the fused kernel also masks channels outside [0, C))
    C,
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
):
    """Sum of dy over the windows whose saved maximum is input cell (n, c, ih, iw); 0 where none is."""
    acc = to_acc(tl.zeros(ih.shape, tl.float32), ACC_FP64)
    dy_plane = dy_ptr + n.to(tl.int64) * stride_dyn + c.to(tl.int64) * stride_dyc
    # argmax is dense in the output's layout: NCHW strides (OH*OW, OW, 1) or NHWC strides (1, OW*C, C).
    if CHANNELS_LAST:
        arg_plane = argmax_ptr + (n.to(tl.int64) * OH * OW) * C + c
        arg_sh = OW * C
        arg_sw = C
    else:
        arg_plane = argmax_ptr + (n.to(tl.int64) * C + c) * OH * OW
        arg_sh = OW
        arg_sw = 1
    for kh in tl.static_range(KH):
        oh_scaled = ih + PH - kh * DH  # = oh * SH when (ih, iw) sits at row kh of window oh
        oh = oh_scaled // SH
        row_ok = valid & (oh_scaled >= 0) & (oh_scaled % SH == 0) & (oh < OH)
        for kw in tl.static_range(KW):
            ow_scaled = iw + PW - kw * DW
            ow = ow_scaled // SW
            hit = row_ok & (ow_scaled >= 0) & (ow_scaled % SW == 0) & (ow < OW)
            pos = tl.load(arg_plane + oh.to(tl.int64) * arg_sh + ow * arg_sw, mask=hit, other=-1)
            hit = hit & (pos.to(tl.int32) == kh * KW + kw)
            g = tl.load(dy_plane + oh.to(tl.int64) * stride_dyh + ow.to(tl.int64) * stride_dyw, mask=hit, other=0.0)
            acc += to_acc(g, ACC_FP64)
    return acc


# ----------------------------------------------------------------------------------------------- host side


def _pair(value, name: str, op: str) -> tuple[int, int]:
    """An int, a 1-tuple or a pair -> (h, w), as ``F.max_pool2d`` reads its size arguments."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) == 1:
        items = items * 2
    if len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in items):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return int(items[0]), int(items[1])


def pool_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> int:
    """ATen's pooling_output_shape: the last window must start inside the input or its left padding."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def pool_geometry(
    x: torch.Tensor, kernel_size, stride, padding, dilation, ceil_mode: bool, op: str
) -> PoolGeometry:
    """Check pooling arguments as ATen does, with errors that name the argument; return sizes and constants."""
    # Only N may be empty: an empty plane or C = 0 has no windows, and F.max_pool2d refuses it too.
    spatial = ("C", "H", "W")
    empty = [dim for dim, size in zip(spatial, x.shape[-3:]) if size == 0]
    if empty:
        raise ValueError(
            f"{op}: x has an empty {' and '.join(empty)} dimension (shape {tuple(x.shape)}); only the batch "
            "dimension N may be 0"
        )
    kh, kw = _pair(kernel_size, "kernel_size", op)
    no_stride = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)  # () as in torch
    sh, sw = _pair(kernel_size if no_stride else stride, "stride", op)
    ph, pw = _pair(padding, "padding", op)
    dh, dw = _pair(dilation, "dilation", op)
    if kh <= 0 or kw <= 0:
        raise ValueError(f"{op}: kernel_size must be greater than zero, got {(kh, kw)}")
    if sh <= 0 or sw <= 0:
        raise ValueError(f"{op}: stride must be greater than zero, got {(sh, sw)}")
    if dh <= 0 or dw <= 0:
        raise ValueError(f"{op}: dilation must be greater than zero, got {(dh, dw)}")
    if ph < 0 or pw < 0 or ph > kh // 2 or pw > kw // 2:
        raise ValueError(f"{op}: padding must be between 0 and half of kernel_size {(kh, kw)}, got {(ph, pw)}")
    height, width = x.shape[-2:]
    oh = pool_output_size(height, kh, sh, ph, dh, ceil_mode)
    ow = pool_output_size(width, kw, sw, pw, dw, ceil_mode)
    if oh < 1 or ow < 1:
        raise ValueError(
            f"{op}: input of spatial size {(height, width)} is too small for kernel_size {(kh, kw)}, "
            f"dilation {(dh, dw)} and padding {(ph, pw)}: the output would be {(oh, ow)}"
        )
    return PoolGeometry(KH=kh, KW=kw, SH=sh, SW=sw, PH=ph, PW=pw, DH=dh, DW=dw, OH=oh, OW=ow)


def is_channels_last(x: torch.Tensor) -> bool:
    """Whether outputs should be channels-last: PyTorch's rule (suggest_memory_format) for 4-D inputs."""
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def argmax_dtype(kernel_cells: int) -> torch.dtype:
    """Smallest integer type holding window positions 0 .. kernel_cells - 1 (and -1)."""
    if kernel_cells <= 127:
        return torch.int8
    return torch.int16 if kernel_cells <= 32767 else torch.int32
