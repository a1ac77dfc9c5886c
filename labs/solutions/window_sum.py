"""Workshop exercise a: the sum of squares over a window of channels, the core of LRN.

    out[n, c, p] = sum_{j in window(c)} x[n, j, p]^2,     window(c) = [c - SIZE // 2, c + (SIZE - 1) // 2] ∩ [0, C)

One program per (sample n, tile of BLOCK positions p of the H x W plane); it walks the channels.
"""

import triton
import triton.language as tl


@triton.jit
def window_sum_kernel(
    x_ptr,  # input, (N, C, H, W) contiguous
    out_ptr,  # output, (N, C, H, W) contiguous, fp32
    C,  # channels
    HW,  # positions per plane, H * W
    SIZE: tl.constexpr,  # channels in the window
    BLOCK: tl.constexpr,  # positions per program
):
    pid = tl.program_id(0)
    num_tiles = tl.cdiv(HW, BLOCK)
    n = pid // num_tiles  # this program's sample
    offs_hw = (pid % num_tiles) * BLOCK + tl.arange(0, BLOCK)  # ... and its positions
    in_bounds = offs_hw < HW  # the last tile can stick out of the plane
    base = n * C * HW + offs_hw  # element (n, 0, p) of each lane
    for c in range(0, C):
        acc = tl.zeros((BLOCK,), tl.float32)
        # ---- TODO: add a_j^2 for each channel j of window(c) ----
        for d in tl.static_range(SIZE):
            j = c - SIZE // 2 + d
            a_j = tl.load(x_ptr + base + j * HW, mask=in_bounds & (j >= 0) & (j < C), other=0.0).to(tl.float32)
            acc += a_j * a_j
        # ---- end of TODO ----
        tl.store(out_ptr + base + c * HW, acc, mask=in_bounds)
