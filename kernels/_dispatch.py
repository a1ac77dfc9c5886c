"""Which backend runs an op, and the argument checks every op's launcher shares."""

from __future__ import annotations

import warnings

import torch

from . import _triton

BACKENDS = ("auto", "triton", "torch")
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


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


def backend_for(x: torch.Tensor, backend: str = "auto") -> str:
    """``"triton"`` or ``"torch"``: what the ops run for tensor ``x`` with ``backend`` (what :func:`resolve_backend`
    picks; for notebooks and logs to say which implementation ran)."""
    return resolve_backend(backend, x, "backend_for")


def resolve_backend(backend: str, x: torch.Tensor, op: str) -> str:
    """Turn ``backend="auto" | "triton" | "torch"`` into the one that runs for tensor ``x``.

    ``auto`` runs compiled Triton on CUDA tensors, Triton's interpreter on CPU tensors when
    ``TRITON_INTERPRET=1``, and plain PyTorch otherwise (a laptop with no GPU, or a GPU older than sm_75, with
    one warning saying so).
    """
    if backend not in BACKENDS:
        raise ValueError(f"{op}: backend must be one of {BACKENDS}, got {backend!r}")
    too_old = unsupported_gpu(x.device) if _triton.HAS_TRITON and x.is_cuda and backend != "torch" else None
    if too_old and backend == "triton":
        raise RuntimeError(f"{op}: backend='triton' cannot run here: {too_old}; use backend='auto' or 'torch'")
    if too_old:
        if too_old not in _warned:
            _warned.add(too_old)
            warnings.warn(f"kernels: {too_old}, so the PyTorch versions run instead", stacklevel=3)
        return "torch"
    triton_runs_here = _triton.HAS_TRITON and (x.is_cuda or (x.device.type == "cpu" and _triton.interpreter_enabled()))
    if backend == "auto":
        return "triton" if triton_runs_here else "torch"
    if backend == "triton" and not triton_runs_here:
        if not _triton.HAS_TRITON:
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
