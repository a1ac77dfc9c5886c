"""Shared launch heuristics, backend dispatch and argument checks for the kernels in this package."""

from __future__ import annotations

import math
import numbers
import os
import struct
import warnings
from types import SimpleNamespace

import torch

try:
    import triton
    import triton.language as tl

    HAS_TRITON = True
except ImportError:  # macOS / Windows laptops: the torch backend still works.
    HAS_TRITON = False

    def _jit(fn=None, **_kwargs):
        return fn if fn is not None else (lambda f: f)

    triton = SimpleNamespace(jit=_jit, cdiv=lambda a, b: -(-a // b), next_power_of_2=None)
    tl = SimpleNamespace(constexpr=object)

__all__ = [
    "HAS_TRITON",
    "triton",
    "tl",
    "BACKENDS",
    "FLOAT_DTYPES",
    "resolve_backend",
    "spatial_block",
    "flat_block",
    "to_acc",
    "pow_neg",
    "split_beta",
    "vmap_folding_batch",
    "ring_push",
    "ring_row",
    "spatial_tile",
]

BACKENDS = ("auto", "triton", "torch")
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def interpreter_enabled() -> bool:
    """True when Triton kernels run on the CPU through Triton's interpreter.

    The variable is read by Triton when a ``@triton.jit`` function is defined, so it must be set before
    ``kernels`` is imported; reading it again here only decides which backend ``"auto"`` picks.
    """
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


# Triton's interpreter in releases before 3.8 breaks on NumPy >= 2.4 (kernels/_compat.py says how and why).
INTERPRETER_FIX = "not needed"
if HAS_TRITON and interpreter_enabled():
    from ._compat import fix_interpreter_index

    INTERPRETER_FIX = fix_interpreter_index(triton.__version__)


# The oldest GPUs the kernels are built for: sm_75 (T4, the free notebook GPUs). Triton's documentation lists
# sm_80 and newer, but these kernels use no tensor-core instruction and the compile check builds them for sm_75.
MIN_CAPABILITY = (7, 5)
_warned: set[str] = set()


def unsupported_gpu(device: torch.device) -> str | None:
    """Why Triton cannot run on this CUDA ``device``, or None when it can."""
    major, minor = torch.cuda.get_device_capability(device)
    if (major, minor) < MIN_CAPABILITY:
        return (f"this GPU is sm_{major}{minor}, older than the sm_{MIN_CAPABILITY[0]}{MIN_CAPABILITY[1]} that "
                "Triton's kernels need")  # fmt: skip
    return None


def resolve_backend(backend: str, x: torch.Tensor, op: str) -> str:
    """Turn ``backend="auto" | "triton" | "torch"`` into the one that runs for tensor ``x``.

    ``auto`` runs compiled Triton on CUDA tensors, Triton's interpreter on CPU tensors when
    ``TRITON_INTERPRET=1``, and plain PyTorch otherwise (a laptop with no GPU, or a GPU older than sm_75, with
    one warning saying so).
    """
    if backend not in BACKENDS:
        raise ValueError(f"{op}: backend must be one of {BACKENDS}, got {backend!r}")
    too_old = unsupported_gpu(x.device) if HAS_TRITON and x.is_cuda and backend != "torch" else None
    if too_old and backend == "triton":
        raise RuntimeError(f"{op}: backend='triton' cannot run here: {too_old}; use backend='auto' or 'torch'")
    if too_old:
        if too_old not in _warned:
            _warned.add(too_old)
            warnings.warn(f"kernels: {too_old}, so the PyTorch versions run instead", stacklevel=3)
        return "torch"
    triton_runs_here = HAS_TRITON and (x.is_cuda or (x.device.type == "cpu" and interpreter_enabled()))
    if backend == "auto":
        return "triton" if triton_runs_here else "torch"
    if backend == "triton" and not triton_runs_here:
        if not HAS_TRITON:
            raise RuntimeError(f"{op}: backend='triton' needs the triton package, which is not installed")
        raise RuntimeError(
            f"{op}: backend='triton' needs a CUDA tensor, or TRITON_INTERPRET=1 set before importing "
            f"kernels to run on the CPU; got a tensor on {x.device}"
        )
    return backend


def check_float_tensor(
    x: torch.Tensor, name: str, op: str, ranks: tuple[int, ...], layouts: dict[int, str] | None = None
) -> None:
    """Raise a ``TypeError``/``ValueError`` naming ``name`` unless it is a float tensor of an allowed rank.

    ``layouts`` names what each rank means in the message (default: 3-D is (N, C, L), 4-D is (N, C, H, W)).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must be float16, bfloat16, float32 or float64, got {x.dtype}")
    if x.dim() not in ranks:
        layouts = layouts or {3: "(N, C, L)", 4: "(N, C, H, W)"}
        shapes = " or ".join(layouts[r] for r in ranks)
        raise ValueError(f"{op}: {name} must be {shapes}, got a {x.dim()}-D tensor of shape {tuple(x.shape)}")


def vmap_folding_batch(apply, in_dims, x: torch.Tensor, *args):
    """The ``vmap`` rule of the kernels' autograd Functions: fold the vmapped dim into the batch dim N.

    Every op here treats the samples of a batch independently, so a vmap over (B, N, C, ...) is the op over
    (B * N, C, ...). ``apply(x, *args)`` returns a tensor or a tuple of tensors, each with N first.
    """
    x_dim = in_dims[0]  # the other arguments are hyper-parameters, never tensors
    x = x.movedim(x_dim, 0)
    out = apply(x.flatten(0, 1), *args)
    if isinstance(out, tuple):
        return tuple(t.unflatten(0, x.shape[:2]) for t in out), (0,) * len(out)
    return out.unflatten(0, x.shape[:2]), 0


def check_same_device(op: str, **tensors: torch.Tensor) -> None:
    devices = {name: t.device for name, t in tensors.items()}
    if len(set(devices.values())) > 1:
        listed = ", ".join(f"{name} on {dev}" for name, dev in devices.items())
        raise ValueError(f"{op}: tensors must be on one device, got {listed}")


@triton.jit
def to_acc(v, ACC_FP64: tl.constexpr):
    """Upcast a loaded value for arithmetic: fp32 for fp16/bf16/fp32 tensors, fp64 for fp64 (gradcheck needs it)."""
    if ACC_FP64:
        return v.to(tl.float64)
    else:
        return v.to(tl.float32)


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


def split_beta(beta: float) -> float:
    """beta rounded to fp32 and then to 16 significant bits: ``beta_hi`` for ``pow_neg``.

    16 bits times an 8-bit exponent fit fp32's 24-bit significand, so the kernel's beta_hi * e is exact.
    """
    (bits,) = struct.unpack("<I", struct.pack("<f", beta))
    (beta_hi,) = struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFF00))
    return beta_hi


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
    for three (the backward kernels), one position per thread (8 warps): at two per thread (4 warps) the LRN
    backward spilled 8 bytes on sm_80 under the ptxas of Triton 3.6 (CUDA 12.8), though not under 3.8's. AlexNet's
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


# ----------------------------------------------------------------------------------------------- LRN, shared


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
