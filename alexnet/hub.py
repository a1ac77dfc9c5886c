"""Trained weights shipped inside the package, in the style of ``torchvision.models.alexnet(weights=...)``.

    model = alexnet.pretrained("cifar-alexnet-cifar10")            # eval mode, on the CPU, offline
    x = model.weights.transforms()(image_uint8_3x32x32)            # the preprocessing it was trained with
    model.weights.classes, model.weights.meta["val_top1_err"]

Each entry is two files in ``alexnet/weights/``: ``<name>.pt`` (fp16 state dict, the preprocessing tensors and the
class names; plain data, read with ``weights_only=True``) and ``<name>.json``, its manifest: the training command,
recipe, data, epochs, the validation error of the shipped (fp16) weights and the sha256 of the ``.pt`` file, which
is checked on every load. ``python -m alexnet export-weights`` writes both from a training checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def available() -> list[str]:
    """Names of the shipped weights."""
    return sorted(path.stem for path in WEIGHTS_DIR.glob("*.json"))


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Weights:
    """One shipped set of weights: its manifest (``meta``) and where its file is."""

    name: str
    meta: dict
    folder: Path

    @property
    def path(self) -> Path:
        return self.folder / self.meta["file"]

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    def state(self) -> dict:
        """The file's contents, after checking its sha256 against the manifest."""
        if not self.path.is_file():
            raise FileNotFoundError(f"weights {self.name!r}: {self.path} is missing (a partial clone or install?)")
        digest = sha256_of(self.path)
        if digest != self.meta["sha256"]:
            raise ValueError(
                f"weights {self.name!r}: {self.path} has sha256 {digest[:16]}..., the manifest says "
                f"{self.meta['sha256'][:16]}... (the file is damaged or was replaced)"
            )
        return torch.load(self.path, map_location="cpu", weights_only=True)

    def transforms(self, state: dict | None = None):
        """The evaluation preprocessing the model was trained with (uint8 (3, S, S) in, float32 out)."""
        from .data import Preprocess

        state = state if state is not None else self.state()
        prep = self.meta["preprocessing"]
        return Preprocess(state.get("mean"), prep["crop"], train=False, pca_std=0.0, std=state.get("std"))

    def build(self, *, device: str | torch.device = "cpu", backend: str = "auto") -> nn.Module:
        """The model with these weights, in float32 and eval mode, on ``device``; ``model.weights`` is ``self``."""
        from .model import ModelSpec

        state = self.state()
        spec = self.meta["model_spec"]
        kwargs = dict(spec["kwargs"])
        if spec["name"] != "four-layer":
            kwargs["backend"] = backend
        model = ModelSpec(spec["name"], kwargs).build()
        model.load_state_dict({k: v.float() for k, v in state["model"].items()})
        model.weights = self
        model.preprocess = self.transforms(state)
        return model.to(device).eval()


def get_weights(name: str) -> Weights:
    """The shipped weights called ``name`` (see :func:`available`)."""
    path = WEIGHTS_DIR / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"pretrained: no shipped weights called {name!r}; available: {available()}")
    return Weights(name, json.loads(path.read_text()), WEIGHTS_DIR)


def pretrained(name: str = "cifar-alexnet-cifar10", *, device: str | torch.device = "cpu", backend: str = "auto"):
    """The shipped model ``name`` in eval mode on ``device``, with ``model.weights`` (manifest, classes) and
    ``model.preprocess`` (the transform of a uint8 (3, S, S) image it expects). Works offline."""
    return get_weights(name).build(device=device, backend=backend)


def export(
    checkpoint: str | Path,
    name: str,
    val_set,
    *,
    command: str,
    recipe: dict,
    data: dict,
    folder: str | Path | None = None,
    overwrite: bool = False,
) -> dict:
    """Write ``<name>.pt`` (fp16) and ``<name>.json`` from a training checkpoint; returns the manifest.

    ``val_set`` is the validation set prepared as in training (its transform's mean and std are shipped); the
    manifest's ``val_top1_err`` is measured here on the fp16 weights, as users will load them. Existing weights
    of that name are only replaced with ``overwrite=True``.
    """
    from .checkpoint import read_checkpoint
    from .files import atomic_save, save_json
    from .metrics import evaluate
    from .model import ModelSpec

    folder = Path(folder) if folder is not None else WEIGHTS_DIR
    pt, manifest_path = folder / f"{name}.pt", folder / f"{name}.json"
    if not overwrite and (pt.exists() or manifest_path.exists()):
        raise FileExistsError(f"export: weights {name!r} exist in {folder}; pass overwrite=True to replace them")
    state = read_checkpoint(checkpoint)
    spec = state["model_spec"]
    half = {k: v.detach().to(torch.float16) if v.is_floating_point() else v for k, v in state["model"].items()}
    transform = val_set.transform
    payload = dict(model=half, mean=transform.mean, std=transform.std, classes=list(state["data"]["classes"]))
    folder.mkdir(parents=True, exist_ok=True)
    atomic_save(payload, pt)
    pt.chmod(0o644)  # package data: readable by everyone who installs it

    kwargs = dict(spec["kwargs"])
    model = ModelSpec(spec["name"], kwargs).build()
    model.load_state_dict({k: v.float() for k, v in half.items()})
    started = time.perf_counter()
    result = evaluate(model, val_set, progress=True)
    epochs = [
        dict(epoch=e["epoch"], val_top1_err=e.get("val_top1_err"), train_top1_err=e.get("train_top1_err"),
             seconds=e.get("epoch_seconds"))
        for e in state.get("epochs", [])
    ]  # fmt: skip
    meta = dict(
        name=name, file=pt.name, sha256=sha256_of(pt), bytes=pt.stat().st_size, model_spec=spec,
        classes=payload["classes"], preprocessing=dict(crop=transform.crop, mean=state["data"].get("mean"),
                                                       standardized=transform.std is not None),
        command=command, recipe=recipe, data=data, epochs=len(epochs), history=epochs,
        training_seconds=round(sum(e["seconds"] or 0 for e in epochs)),
        val_top1_err=result["top1_err"], val_top5_err=result["top5_err"], val_images=result["images"],
        evaluated_in_seconds=round(time.perf_counter() - started, 1),
        exported_with=dict(torch=torch.__version__, machine=platform.machine()),
    )  # fmt: skip
    save_json(meta, manifest_path)
    return meta
