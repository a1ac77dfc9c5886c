"""A training run from a user's choices (:class:`alexnet.choices.TrainChoices`): the one path that
``python -m alexnet train`` and the notebooks' dashboard (:func:`build_trainer`) both take, so the same choices on
the same data give the same run.

    load_data(source, choices)  ->  model_spec(choices, classes)  ->  make_trainer(choices, sets, ...)
"""

from __future__ import annotations

from pathlib import Path

from .choices import RECIPES, TrainChoices, resolve_precision
from .model import ModelSpec
from .train import TrainConfig, Trainer


def load_data(source: str, choices: TrainChoices, *, subset: int | None = None, download: bool = False):
    """The training and validation sets for ``choices`` (its model's input size, mean and augmentation).

    ``source``: ``"demo"`` (scikit-image's photos, offline, already standardized), ``"cifar10"``,
    ``"imagenette"``, or a folder/zip. ``subset``: train on this many images (32x32 models only).
    """
    from . import data as datamod

    if source == "demo":
        train, val = datamod.demo_dataset()
        sets = datamod.DataSets(train, val, list(datamod.DEMO_PHOTOS), "demo")
    else:
        size = ModelSpec(choices.model).input_size
        sets = datamod.load_datasets(source, input_size=size, mean=choices.mean, augment=choices.augment,
                                     download=download)  # fmt: skip
    if subset is not None:
        if not hasattr(sets.train, "subset"):
            raise ValueError(f"subset: {choices.model} trains on crops of full-size images, where subset is not "
                             "offered (32x32 models only: cifar-alexnet, four-layer)")  # fmt: skip
        sets.train = sets.train.subset(min(subset, len(sets.train)), seed=choices.seed)
    return sets


def model_spec(choices: TrainChoices, num_classes: int) -> ModelSpec:
    """The model the choices name, for ``num_classes`` classes (what a checkpoint records to rebuild it)."""
    kwargs = dict(num_classes=num_classes, init=choices.init)
    if choices.model == "four-layer":
        kwargs["activation"] = choices.activation
    else:
        kwargs["backend"] = choices.backend
    return ModelSpec(choices.model, kwargs)


def make_trainer(
    choices: TrainChoices, sets, *, spec: ModelSpec | None = None, device: str = "cpu",
    devices: tuple[str, str] | None = None, dist_ctx=None, log_dir: str | Path | None = None, overwrite: bool = False,
    workers: int = 0, subset: int | None = None,
) -> Trainer:  # fmt: skip
    """A Trainer for ``choices`` on ``sets`` (:func:`load_data`); ``spec``: a resumed run's own model.

    devices: the two columns on two devices in this process; dist_ctx: a torchrun job's context
    (:func:`alexnet.parallel.init_distributed`). Every process builds the same initial weights from the seed.
    """
    spec = spec or model_spec(choices, len(sets.classes))
    model = spec.build(seed=choices.seed)
    if devices is not None:
        if spec.name not in ("alexnet", "cifar-alexnet"):
            raise ValueError(f"devices: model {spec.name} has no columns to place (use alexnet or cifar-alexnet)")
        from .parallel import place_columns

        place_columns(model, devices)
    optimisation = {name: getattr(choices, name) for name in ("lr", "momentum", "weight_decay", "batch_size", "seed")}
    recipe = RECIPES[choices.recipe]
    config = TrainConfig(**optimisation, device=device, num_workers=workers, recipe=choices.recipe,
                         warmup_steps=recipe.warmup_steps, label_smoothing=recipe.label_smoothing,
                         precision=resolve_precision(choices.precision, device))  # fmt: skip
    preprocessing = dict(mean=choices.mean, augment=choices.augment, subset=subset)
    return Trainer(model, sets.train, sets.val, config, log_dir=log_dir, spec=spec, dist_ctx=dist_ctx,
                   preprocessing=preprocessing, overwrite=overwrite)  # fmt: skip


def build_trainer(
    data: str = "demo",
    model: str = "cifar-alexnet",
    *,
    backend: str = "auto",
    init: str | None = None,
    device: str = "cpu",
    devices: tuple[str, str] | None = None,
    batch_size: int = 128,
    lr: float | None = None,
    subset: int | None = None,
    log_dir: str | Path | None = None,
    seed: int = 0,
    recipe: str = "paper",
    precision: str = "fp32",
) -> Trainer:
    """A ready Trainer from the notebooks' controls, with the CLI's defaults for everything they do not offer.

    data: ``"demo"``, ``"cifar10"``, ``"imagenette"``, or a folder/zip path. model: one of
    :data:`alexnet.choices.MODELS`. devices: two devices for the two columns (AlexNet models only). subset: train
    on this many images (32x32 models; quick runs). lr: None for the recipe's (:data:`alexnet.choices.RECIPES`).
    precision: ``"fp32"``, ``"bf16"`` or ``"auto"`` (bf16 where it is faster: a CPU with AMX).
    """
    choices, _ = TrainChoices(model=model, backend=backend, init=init, batch_size=batch_size, lr=lr, seed=seed,
                              recipe=recipe, precision=precision).resolved(data)  # fmt: skip
    sets = load_data(data, choices, subset=subset)
    return make_trainer(choices, sets, device=device, devices=devices, log_dir=log_dir, subset=subset)
