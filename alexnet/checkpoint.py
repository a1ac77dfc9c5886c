"""Checkpoints: what a training run writes, how it is read back safely, and how a model is rebuilt from one.

A checkpoint (:meth:`alexnet.train.Trainer.state_dict`) is a dict of tensors and plain Python data (it loads with
``torch.load(weights_only=True)``, so a crafted file cannot run code), written atomically. It is
layout-independent: parameters and momentum by name, the same in every parallel mode, with the model's spec
(:class:`alexnet.model.ModelSpec`), the data's classes and preprocessing, every RNG and the position in the data,
so a resumed run continues exactly.

    read_checkpoint(path) -> dict       load_model(path) -> nn.Module
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn as nn

if TYPE_CHECKING:
    pass

CHECKPOINT_FORMAT = "alexnet-lab/checkpoint"
# 2: plain data only (loads with weights_only=True), the data's classes and preprocessing, skipped-image count.
CHECKPOINT_VERSION = 2


def numpy_rng_state() -> dict:
    """numpy's global RNG state as tensors and numbers: loads with ``weights_only=True``, unlike its ndarray."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return dict(kind=kind, keys=torch.from_numpy(keys.astype(np.int64)), pos=int(pos), has_gauss=int(has_gauss),
                cached_gaussian=float(cached))  # fmt: skip


# ----------------------------------------------------------------------------------------------- reading


def read_checkpoint(path: str | Path) -> dict:
    """Load and check a checkpoint file without running code from it; a clear error if it is missing, truncated,
    unsafe or not ours.

    ``torch.load(weights_only=True)`` unpickles tensors and plain Python data only, so a crafted file cannot run
    code. Version-1 checkpoints also hold numpy's RNG state as an array: numpy's array reconstruction (which builds
    arrays and runs nothing else) is allowed for them.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with torch.serialization.safe_globals(_NUMPY_ARRAY_GLOBALS):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Unsupported global" in str(err) or "GLOBAL" in str(err):
            raise ValueError(
                f"{path} is not a safe checkpoint: it asks to build objects other than tensors and plain data "
                "(refused without running anything; only load files you trust with torch.load yourself)"
            ) from None
        raise ValueError(f"checkpoint {path} is corrupt or unreadable: {type(err).__name__}: {err}") from err
    except Exception as err:  # truncated or corrupt files raise many different errors
        raise ValueError(f"checkpoint {path} is corrupt or unreadable: {type(err).__name__}: {err}") from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an alexnet-lab checkpoint")
    if state.get("version", 0) > CHECKPOINT_VERSION:
        raise ValueError(f"checkpoint {path} is version {state['version']}; this code reads <= {CHECKPOINT_VERSION}")
    return migrate(state)


def migrate(state: dict) -> dict:
    """A checkpoint of an earlier layout in today's: the model's ``kernels=`` argument is ``backend=``."""
    kwargs = (state.get("model_spec") or {}).get("kwargs") or {}
    if "kernels" in kwargs:
        kwargs.setdefault("backend", kwargs.pop("kernels"))
    return state


def _numpy_array_globals() -> list:
    """What unpickling a numpy array needs: its reconstruction function, ndarray, dtype and the dtype classes."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    names = [_reconstruct, np.ndarray, np.dtype]
    names += [type(np.dtype(t)) for t in ("uint32", "int64", "float64")]
    return names


_NUMPY_ARRAY_GLOBALS = _numpy_array_globals()


def load_model(path: str | Path, device: str = "cpu", backend: str | None = None) -> nn.Module:
    """The model stored in a checkpoint, rebuilt from its spec, in eval mode; ``backend`` replaces the one it was
    trained with (the same function either way)."""
    from .model import ModelSpec

    state = read_checkpoint(path)
    if not state.get("model_spec"):
        raise ValueError(f"checkpoint {path} does not say which model it holds (no model_spec)")
    spec = ModelSpec(**state["model_spec"])
    if backend is not None and spec.name != "four-layer":
        spec.kwargs["backend"] = backend
    model = spec.build()
    model.load_state_dict(state["model"])
    return model.to(device).eval()
