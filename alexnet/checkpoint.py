"""Checkpoints: what a training run writes, how it is read back safely, and how a model is rebuilt from one.

A checkpoint is a dict of tensors and plain Python data (it loads with ``torch.load(weights_only=True)``, so a
crafted file cannot run code), written atomically. It is layout-independent: parameters and momentum by name,
the same in every parallel mode, with the model's spec (:class:`alexnet.model.ModelSpec`), the data's classes
and preprocessing, every RNG and the position in the data, so a resumed run continues exactly.

    run_state(trainer) -> dict          restore_run(trainer, path)
    read_checkpoint(path) -> dict       load_model(path) -> nn.Module
"""

from __future__ import annotations

import pickle
import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn as nn

if TYPE_CHECKING:
    from .train import Trainer

CHECKPOINT_FORMAT = "alexnet-lab/checkpoint"
# 2: plain data only (loads with weights_only=True), the data's classes and preprocessing, skipped-image count.
CHECKPOINT_VERSION = 2


# ----------------------------------------------------------------------------------------------- a run's state


def run_state(trainer: Trainer) -> dict:
    """The checkpoint of a trainer: model, momentum, lr and schedule, progress, RNGs, config, data, logs so far.

    In a distributed run every rank must call it (the columns are gathered); rank 0's copy is the one saved.
    """
    # The trainer's private stream (python's and numpy's are recorded as before but training draws from neither).
    rng = dict(torch=trainer.rng["cpu"].clone(), python=random.getstate(), numpy=_numpy_rng_state())
    if torch.cuda.is_available():
        states = torch.cuda.get_rng_state_all()
        rng["cuda"] = [trainer.rng["cuda"].get(index, state) for index, state in enumerate(states)]
    model_state = {k: v.detach().cpu() for k, v in trainer.net.state_dict().items()}
    momentum = trainer.strategy.full_state(trainer.model, _momentum_by_name(trainer))
    return dict(
        format=CHECKPOINT_FORMAT,
        version=CHECKPOINT_VERSION,
        model_spec=asdict(trainer.spec) if trainer.spec else None,
        model=trainer.strategy.full_state(trainer.model, model_state),
        optimizer=dict(lr=trainer.lr, momentum=momentum),
        scheduler=trainer.scheduler.state_dict(),
        rng=rng,
        progress=dict(epoch=trainer.epoch, step_in_epoch=trainer.step_in_epoch, global_step=trainer.global_step),
        epoch_stats={k: v for k, v in trainer._epoch_stats.items() if k != "start"},
        train_config=asdict(trainer.config),
        epochs=trainer.epochs,
        data=dict(trainer.preprocessing, classes=trainer.classes),
        loader=dict(skipped=trainer.loader.skipped),
    )


def restore_run(trainer: Trainer, path: str | Path) -> None:
    """Load the checkpoint at ``path`` into ``trainer``, to continue exactly.

    The checkpoint's classes must be the data's. When the trainer logs to a folder, that folder's run can only
    be continued from its own checkpoint, and rows logged after the checkpoint (a run killed between writing
    them and its next checkpoint) are dropped, since the resumed run logs those steps again.
    """
    state = read_checkpoint(path)
    if trainer._unresumed_run and Path(path).resolve() != (trainer.log_dir / "checkpoint.pt").resolve():
        raise FileExistsError(
            f"{trainer.log_dir} holds another run: resume into it only from its own checkpoint.pt, or start over "
            "with overwrite=True"
        )
    saved_classes = (state.get("data") or {}).get("classes")
    if saved_classes is not None and trainer.classes is not None and list(saved_classes) != trainer.classes:
        raise ValueError(
            f"checkpoint {path} was trained on {len(saved_classes)} classes ({_short(saved_classes)}), the data "
            f"has {len(trainer.classes)} ({_short(trainer.classes)})"
        )
    try:
        trainer.net.load_state_dict(state["model"])
    except RuntimeError as err:
        raise ValueError(f"checkpoint {path} does not fit this model: {err}") from err
    params = dict(trainer.net.named_parameters())
    optimizer = trainer.optimizer
    for name, buf in state["optimizer"]["momentum"].items():
        param = params[name]
        if any(param is p for g in optimizer.param_groups for p in g["params"]):
            optimizer.state[param]["momentum_buffer"] = buf.to(param.device, param.dtype).clone()
    trainer.set_lr(state["optimizer"]["lr"])
    trainer.scheduler.load_state_dict(state["scheduler"])
    progress = state["progress"]
    trainer.epoch, trainer.step_in_epoch = progress["epoch"], progress["step_in_epoch"]
    trainer.global_step = progress["global_step"]
    trainer.epochs = list(state["epochs"])
    trainer._epoch_stats = dict(state["epoch_stats"], start=time.perf_counter())
    trainer.loader.skipped = state.get("loader", {}).get("skipped", 0)
    trainer._batches = None
    rng = state["rng"]  # into the trainer's private stream: the global RNGs are left alone
    trainer.rng["cpu"] = rng["torch"].clone()
    if "cuda" in rng and torch.cuda.is_available():
        saved = rng["cuda"]
        trainer.rng["cuda"] = {index: saved[index] for index in trainer._cuda_indices() if index < len(saved)}
    trainer.log.truncate(trainer.epoch, trainer.global_step)
    trainer._unresumed_run = False


def _momentum_by_name(trainer: Trainer) -> dict[str, torch.Tensor]:
    names = {id(p): n for n, p in trainer.net.named_parameters()}
    out = {}
    for group in trainer.optimizer.param_groups:
        for p in group["params"]:
            buf = trainer.optimizer.state.get(p, {}).get("momentum_buffer")
            if buf is not None:
                out[names[id(p)]] = buf.detach().cpu()
    return out


def _short(names) -> str:
    return ", ".join(list(names)[:4]) + (", ..." if len(names) > 4 else "")


def _numpy_rng_state() -> dict:
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
        spec.kwargs.pop("kernels", None)  # its old name, in older checkpoints
        spec.kwargs["backend"] = backend
    model = spec.build()
    model.load_state_dict(state["model"])
    return model.to(device).eval()
