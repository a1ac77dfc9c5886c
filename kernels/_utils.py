"""Shared launch heuristics, backend dispatch and argument checks for the kernels in this package."""

from __future__ import annotations

import os
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
]

BACKENDS = ("auto", "triton", "torch")
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def interpreter_enabled() -> bool:
    """True when Triton kernels run on the CPU through Triton's interpreter.

    The variable is read by Triton when a ``@triton.jit`` function is defined, so it must be set before
    ``kernels`` is imported; reading it again here only decides which backend ``"auto"`` picks.
    """
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def resolve_backend(backend: str, x: torch.Tensor, op: str) -> str:
    """Turn ``backend="auto" | "triton" | "torch"`` into the one that runs for tensor ``x``.

    ``auto`` runs compiled Triton on CUDA tensors, Triton's interpreter on CPU tensors when
    ``TRITON_INTERPRET=1``, and plain PyTorch otherwise (a laptop with no GPU).
    """
    if backend not in BACKENDS:
        raise ValueError(f"{op}: backend must be one of {BACKENDS}, got {backend!r}")
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


def check_float_tensor(x: torch.Tensor, name: str, op: str, ranks: tuple[int, ...]) -> None:
    """Raise a ``TypeError``/``ValueError`` naming ``name`` unless it is a float tensor of an allowed rank."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must be float16, bfloat16, float32 or float64, got {x.dtype}")
    if x.dim() not in ranks:
        shapes = " or ".join({3: "(N, C, L)", 4: "(N, C, H, W)"}[r] for r in ranks)
        raise ValueError(f"{op}: {name} must be {shapes}, got a {x.dim()}-D tensor of shape {tuple(x.shape)}")


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


def flat_block(total: int, device: torch.device) -> tuple[int, int, bool]:
    """Pick ``(BLOCK, num_warps, INDEX_64)`` for kernels with one program per BLOCK consecutive elements.

    1024 elements (8 per thread at 4 warps) on a GPU; the interpreter pays per program, so 8K on the CPU.
    ``INDEX_64`` switches the kernel's index arithmetic to int64 only when it is needed: 64-bit division is
    several times slower than 32-bit on GPUs, and these kernels decode (n, c, h, w) from a flat index.
    """
    block = 1024 if device.type == "cuda" else 8192
    return block, 4, total + block >= 2**31


def spatial_block(num_spatial: int, device: torch.device) -> tuple[int, int]:
    """Pick ``(BLOCK, num_warps)`` for kernels that tile the spatial plane and loop over channels.

    On a GPU 1024 elements (8 per thread at 4 warps) keep enough loads in flight to saturate HBM while
    AlexNet's 55x55 = 3025 planes still give N * 3 programs. The interpreter pays per program, not per
    element, so on the CPU the whole plane goes in one program (up to 16K elements).
    """
    cap = 1024 if device.type == "cuda" else 16384
    block = min(triton.next_power_of_2(max(num_spatial, 1)), cap)
    block = max(block, 16)
    num_warps = 4 if block >= 512 else (2 if block >= 128 else 1)
    return block, num_warps
