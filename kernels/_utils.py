"""The Triton helpers the kernels share (accumulation, register rings, tiles, the max-pooling rule) and the launch
heuristics that size their blocks."""

from __future__ import annotations

import torch

from ._triton import tl, triton


@triton.jit
def to_acc(v, ACC_FP64: tl.constexpr):
    """Upcast a loaded value for arithmetic: fp32 for fp16/bf16/fp32 tensors, fp64 for fp64 (gradcheck needs it)."""
    if ACC_FP64:
        return v.to(tl.float64)
    else:
        return v.to(tl.float32)


@triton.jit
def ring_push(ring, value, q, SIZE: tl.constexpr, RING: tl.constexpr):
    """Put the q-th value of a sequence into row q % RING of ring, (RING, BLOCK_HW), and clear the row of the
    (q - SIZE)-th: the ring then holds the last SIZE values and zeros (RING >= SIZE is a power of two)."""
    rows = tl.arange(0, RING)[:, None]
    ring = tl.where(rows == (q + RING - SIZE) % RING, 0.0, ring)  # with RING == SIZE, the row overwritten next
    return tl.where(rows == q % RING, value[None, :], ring)


@triton.jit
def ring_row(ring, q, RING: tl.constexpr):
    """The q-th value pushed into ring (still held), selected without arithmetic on the other rows."""
    rows = tl.arange(0, RING)[:, None]
    return tl.sum(tl.where(rows == q % RING, ring, 0.0), axis=0)


@triton.jit
def spatial_tile(H, W, BLOCK_HW: tl.constexpr):
    """This program's sample and tile of BLOCK_HW positions of the (H, W) plane (one program per pair):
    (pid_n, in_bounds, h, w), with h and w int32 (a plane is far below 2**31 positions)."""
    num_hw = H * W
    num_tiles = tl.cdiv(num_hw, BLOCK_HW)
    pid = tl.program_id(0)
    offs_hw = (pid % num_tiles) * BLOCK_HW + tl.arange(0, BLOCK_HW)
    return pid // num_tiles, offs_hw < num_hw, offs_hw // W, offs_hw % W


@triton.jit
def flat_offsets(BLOCK: tl.constexpr, INDEX_64: tl.constexpr):
    """This program's BLOCK consecutive element offsets, in int64 only where the tensor needs it."""
    pid = tl.program_id(0)
    if INDEX_64:
        return pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    else:
        return pid * BLOCK + tl.arange(0, BLOCK)


@triton.jit
def take_max(v, best, best_pos, inside, pos):
    """ATen's max-pooling rule: a cell wins if strictly greater (first maximum wins ties), NaN, or the first."""
    take = inside & ((v > best) | (v != v) | (best_pos < 0))
    return tl.where(take, v, best), tl.where(take, pos, best_pos)


@triton.jit
def relu(v):
    """max(v, 0) with NaN kept, as torch.relu does (tl.maximum would drop it)."""
    return tl.where((v > 0) | (v != v), v, 0.0)


FLAT_BLOCK = 1024  # elements per program: 8 per thread at 4 warps keep enough loads in flight for HBM
FLAT_BLOCK_HEAVY = 256  # kernels with much per-element state (9 windows each): the fused forward, pool backward
INTERPRETER_FLAT_BLOCK = 8192  # the interpreter pays per program, not per element


def flat_block(total: int, device: torch.device, heavy: bool = False, fp64: bool = False) -> tuple[int, int, bool]:
    """Pick ``(BLOCK, num_warps, INDEX_64)`` for kernels with one program per BLOCK consecutive elements.

    ``heavy``: 2 elements per thread instead of 8, so the per-element state fits in registers (at 8, ptxas
    reports 255 registers and 4 KB of spill for the fused forward, 336 B for the pooling backward, on sm_90).
    ``INDEX_64`` switches the kernel's index arithmetic to int64 only when it is needed: 64-bit division is
    several times slower than 32-bit on GPUs, and these kernels decode (n, c, h, w) from a flat index.
    """
    if device.type == "cuda":
        block = FLAT_BLOCK_HEAVY if heavy else FLAT_BLOCK
        if heavy and fp64:  # the pooling backward's fp64 build spills 8 B at 256 (ptxas); gradcheck is its only use
            block //= 2
    else:
        block = INTERPRETER_FLAT_BLOCK
    return block, 4, total + block >= 2**31


def spatial_block(num_spatial: int, device: torch.device, rings: int = 1) -> tuple[int, int]:
    """Pick ``(BLOCK, num_warps)`` for kernels that tile the spatial plane and sweep the channels.

    Such a kernel keeps ``rings`` register rings of (next power of two >= size) x BLOCK values, so the block is
    sized by what fits in registers without spilling (ptxas, sm_80/sm_90, see benchmarks/kernel_report.py): 512
    positions for one ring (4 per thread at 4 warps: 32 registers of ring; at 1024 the fp16 forward spills), 256
    for three (the backward kernels), one position per thread (8 warps), because at two per thread (4 warps) the
    LRN backward spills 8 bytes on sm_80 with the ptxas of the oldest Triton the lab supports (3.6). AlexNet's
    55x55 = 3025 planes still give N * 12 programs. The interpreter pays per program, not per element, so on the
    CPU the whole plane goes in one program (up to 16K elements).
    """
    cap = (512 if rings == 1 else 256) if device.type == "cuda" else 16384
    block = min(triton.next_power_of_2(max(num_spatial, 1)), cap)
    block = max(block, 16)
    if rings == 1:
        num_warps = 4 if block >= 256 else (2 if block >= 128 else 1)
    else:
        num_warps = max(1, min(8, block // 32))
    return block, num_warps
