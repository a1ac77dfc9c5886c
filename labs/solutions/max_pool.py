"""Workshop exercise d: max pooling with indices, and its backward by gather.

Forward: one lane per output cell (n, c, oh, ow) of the flattened output; it reads its KS x KS window of the
input and keeps the first maximum in row-major order (a NaN wins, as in PyTorch), and its index h * W + w.

Backward: one lane per input cell (n, c, h, w). It visits every window that contains it and adds that window's
gradient when the window chose it. Nothing is scattered, so no two lanes write one cell: no atomics, and the
result is the same bits every run.
"""

import triton
import triton.language as tl


@triton.jit
def max_pool_forward_kernel(
    x_ptr,  # input, (N, C, H, W) contiguous
    y_ptr,  # output, (N, C, OH, OW) contiguous
    idx_ptr,  # int64 index h * W + w of each output's maximum, (N, C, OH, OW)
    H, W, OH, OW,  # the input's plane, the output's plane
    total,  # N * C * OH * OW
    KS: tl.constexpr,  # window side
    STRIDE: tl.constexpr,
    BLOCK: tl.constexpr,  # output cells per program
    ACC_FP64: tl.constexpr,  # compare in fp64 (fp64 tensors), else in fp32 (exact for fp16, bf16 and fp32)
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    in_bounds = offs < total
    if ACC_FP64:
        ACC = tl.float64
    else:
        ACC = tl.float32
    ow = offs % OW
    oh = (offs // OW) % OH
    plane = offs // (OW * OH)  # n * C + c
    # ---- TODO: best = the window's first maximum (NaN wins), best_idx = its h * W + w ----
    best = tl.full((BLOCK,), float("-inf"), ACC)
    best_idx = tl.full((BLOCK,), -1, tl.int64)
    for kh in tl.static_range(KS):
        for kw in tl.static_range(KS):
            h = oh * STRIDE + kh
            w = ow * STRIDE + kw
            v = tl.load(x_ptr + plane * H * W + h * W + w, mask=in_bounds, other=0.0).to(ACC)
            take = (v > best) | (v != v) | (best_idx < 0)  # greater, NaN, or the window's first cell
            best = tl.where(take, v, best)
            best_idx = tl.where(take, (h * W + w).to(tl.int64), best_idx)
    # ---- end of TODO ----
    tl.store(y_ptr + offs, best.to(y_ptr.dtype.element_ty), mask=in_bounds)
    tl.store(idx_ptr + offs, best_idx, mask=in_bounds)


@triton.jit
def max_pool_backward_kernel(
    x_ptr,  # the forward's input, (N, C, H, W) contiguous: there to tempt you (see the notebook)
    dy_ptr,  # gradient of the output, (N, C, OH, OW) contiguous
    idx_ptr,  # the forward's indices, (N, C, OH, OW)
    dx_ptr,  # gradient of the input, (N, C, H, W) contiguous
    H, W, OH, OW,  # the input's plane, the output's plane
    total,  # N * C * H * W
    KS: tl.constexpr,
    STRIDE: tl.constexpr,
    BLOCK: tl.constexpr,  # input cells per program
    ACC_FP64: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    in_bounds = offs < total
    if ACC_FP64:
        ACC = tl.float64
    else:
        ACC = tl.float32
    w = offs % W
    h = (offs // W) % H
    plane = offs // (W * H)
    acc = tl.zeros((BLOCK,), ACC)
    # ---- TODO: acc = the sum of dy over the windows that chose this cell ----
    for dh in tl.static_range((KS + STRIDE - 1) // STRIDE):  # at most this many window rows hold row h
        for dw in tl.static_range((KS + STRIDE - 1) // STRIDE):
            oh = h // STRIDE - dh
            ow = w // STRIDE - dw
            holds = in_bounds & (oh >= 0) & (oh < OH) & (ow >= 0) & (ow < OW)
            holds = holds & (oh * STRIDE + KS > h) & (ow * STRIDE + KS > w)
            out = plane * OH * OW + oh * OW + ow
            chosen = tl.load(idx_ptr + out, mask=holds, other=-1) == h * W + w
            acc += tl.load(dy_ptr + out, mask=holds & chosen, other=0.0).to(ACC)
    # ---- end of TODO ----
    tl.store(dx_ptr + offs, acc.to(dx_ptr.dtype.element_ty), mask=in_bounds)


def max_pool2d(x, kernel_size, stride, return_indices=False):
    """Both kernels behind the lab's signature:
    ``pytest tests/kernels --pool-impl=labs/solutions/max_pool.py:max_pool2d``."""
    from kernels import workshop

    pool = workshop.max_pool2d_function(max_pool_forward_kernel, max_pool_backward_kernel)
    return pool(x, kernel_size, stride, return_indices)
