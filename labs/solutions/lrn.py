r"""Workshop exercises b and c: Local Response Normalization, forward and backward, written plainly.

Forward, with a_i the activity of channel i at one position and n = SIZE:

    s_i = k + alpha * sum_{j in window(i)} a_j^2,      window(i) = [i - n // 2, i + (n - 1) // 2] ∩ [0, C)
    b_i = a_i * s_i^(-beta)

Backward: b_j depends on a_i when i is in window(j), that is j in [i - (n - 1) // 2, i + n // 2], and
ds_j/da_i = 2 alpha a_i, so with v_j = dy_j s_j^(-beta)

    dx_i = v_i - 2 beta sum_{j : i in window(j)} v_j * (alpha a_i a_j / s_j)

The factor in brackets stays near 1 even where s_j^(-beta-1) would underflow fp32. The lab's own kernels
(kernels/lrn.py) compute the same numbers with each input loaded about once: see the workshop's last part.
"""

import triton
import triton.language as tl


@triton.jit
def lrn_forward_kernel(
    x_ptr,  # a, (N, C, H, W) contiguous
    y_ptr,  # b, (N, C, H, W) contiguous
    C,  # channels
    HW,  # positions per plane, H * W
    alpha,  # as used in s (already divided by SIZE for the alpha / n convention)
    beta,
    k,
    SIZE: tl.constexpr,  # channels in the window, n
    BLOCK: tl.constexpr,  # positions per program
    ACC_FP64: tl.constexpr,  # compute in fp64 (fp64 tensors: gradcheck), else in fp32
):
    pid = tl.program_id(0)
    num_tiles = tl.cdiv(HW, BLOCK)
    n = pid // num_tiles
    offs_hw = (pid % num_tiles) * BLOCK + tl.arange(0, BLOCK)
    in_bounds = offs_hw < HW
    base = n * C * HW + offs_hw
    if ACC_FP64:
        ACC = tl.float64
    else:
        ACC = tl.float32
    for c in range(0, C):
        # ---- TODO: b = a_c * s_c^(-beta), s_c = k + alpha * sum_{j in window(c)} a_j^2 ----
        s = tl.zeros((BLOCK,), ACC) + k
        for d in tl.static_range(SIZE):
            j = c - SIZE // 2 + d
            a_j = tl.load(x_ptr + base + j * HW, mask=in_bounds & (j >= 0) & (j < C), other=0.0).to(ACC)
            s += (alpha * a_j) * a_j  # (alpha a) a: a^2 alone overflows fp32 from |a| ~ 1.8e19
        a_c = tl.load(x_ptr + base + c * HW, mask=in_bounds, other=0.0).to(ACC)
        b = a_c * tl.exp2(-beta * tl.log2(s))  # s^(-beta); Triton's interpreter has no libdevice pow
        # ---- end of TODO ----
        tl.store(y_ptr + base + c * HW, b.to(y_ptr.dtype.element_ty), mask=in_bounds)


@triton.jit
def lrn_backward_kernel(
    x_ptr,  # a, the forward's input, (N, C, H, W) contiguous
    dy_ptr,  # gradient of b, (N, C, H, W) contiguous
    dx_ptr,  # gradient of a, (N, C, H, W) contiguous
    C,
    HW,
    alpha,
    beta,
    k,
    SIZE: tl.constexpr,
    BLOCK: tl.constexpr,
    ACC_FP64: tl.constexpr,
):
    pid = tl.program_id(0)
    num_tiles = tl.cdiv(HW, BLOCK)
    n = pid // num_tiles
    offs_hw = (pid % num_tiles) * BLOCK + tl.arange(0, BLOCK)
    in_bounds = offs_hw < HW
    base = n * C * HW + offs_hw
    if ACC_FP64:
        ACC = tl.float64
    else:
        ACC = tl.float32
    for i in range(0, C):
        # ---- TODO: dx_i = v_i - 2 beta sum_{j : i in window(j)} v_j (alpha a_i a_j / s_j) ----
        a_i = tl.load(x_ptr + base + i * HW, mask=in_bounds, other=0.0).to(ACC)
        dx = tl.zeros((BLOCK,), ACC)
        for e in tl.static_range(SIZE):
            j = i - (SIZE - 1) // 2 + e  # the channels whose window holds i
            has_j = in_bounds & (j >= 0) & (j < C)
            s_j = tl.zeros((BLOCK,), ACC) + k
            for d in tl.static_range(SIZE):
                m = j - SIZE // 2 + d
                a_m = tl.load(x_ptr + base + m * HW, mask=has_j & (m >= 0) & (m < C), other=0.0).to(ACC)
                s_j += (alpha * a_m) * a_m
            a_j = tl.load(x_ptr + base + j * HW, mask=has_j, other=0.0).to(ACC)
            dy_j = tl.load(dy_ptr + base + j * HW, mask=has_j, other=0.0).to(ACC)
            v_j = dy_j * tl.exp2(-beta * tl.log2(s_j))
            cross = v_j * ((alpha * a_i) * (a_j / s_j))
            dx += tl.where(has_j, -2.0 * beta * cross, 0.0)  # lanes without a channel j add exactly 0
            if e == (SIZE - 1) // 2:  # j == i: b_i's own a_i
                dx += v_j
        # ---- end of TODO ----
        tl.store(dx_ptr + base + i * HW, dx.to(dx_ptr.dtype.element_ty), mask=in_bounds)


def lrn(x, size, alpha, beta, k, alpha_over_size=False):
    """Both kernels behind the lab's signature: ``pytest tests/kernels --lrn-impl=labs/solutions/lrn.py:lrn``."""
    from kernels import workshop

    return workshop.lrn_function(lrn_forward_kernel, lrn_backward_kernel)(x, size, alpha, beta, k, alpha_over_size)
