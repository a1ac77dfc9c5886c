"""Every name a user picks, with its default, in one place: the CLI, the notebooks' widgets, the models and the
experiments import these and type none of them again.

    MODELS  BACKENDS  INITS  MEANS  ACTIVATIONS  PARALLEL_LAYOUTS  MEMORY_FORMATS  RECIPES  PRECISIONS
    default_init(model)   model_for_data(data)   resolve_precision(precision, device)   TrainChoices (a run's choices)

Imports nothing heavier than the standard library, so any module may use it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

# cifar-alexnet-grouped: the same network as cifar-alexnet on one device, in the grouped-convolution form.
# cuda-convnet-*: cuda-convnet's CIFAR-10 networks (alexnet/cuda_convnet.py), on 24x24 crops, trained with their own
# recipe by alexnet/experiments/lrn_overlap/ (python -m alexnet lrn-overlap), not by `train`.
CUDA_CONVNET_MODELS = ("cuda-convnet-13pct", "cuda-convnet-13pct+lrn", "cuda-convnet-13pct-nonoverlap",
                       "cuda-convnet-11pct")  # fmt: skip
MODELS = ("alexnet", "cifar-alexnet", "cifar-alexnet-grouped", "four-layer", *CUDA_CONVNET_MODELS)
DASHBOARD_MODELS = ("cifar-alexnet", "alexnet", "four-layer")  # what the notebooks' training dashboard offers

# How the ReLU/LRN/pool stages run: kernels.BACKENDS (the kernels package imports nothing from alexnet, so the
# tuple is written there too; tests/alexnet/test_choices.py checks the two are the same).
BACKENDS = ("auto", "triton", "torch")
INITS = ("paper", "modern")  # N(0, 0.01) with the paper's biases, or PyTorch's fan-in init
# The mean subtracted from the images: the training set's mean image (the paper), its mean colour, ImageNet's, none.
MEANS = ("pixel", "channel", "imagenet", "none")
ACTIVATIONS = ("relu", "tanh")
# One process, or under torchrun: data (DDP), columns (two ranks, one column each, as in the paper), hybrid.
PARALLEL_LAYOUTS = ("none", "data", "columns", "hybrid")
MEMORY_FORMATS = ("contiguous", "channels_last")


@dataclass(frozen=True)
class Recipe:
    """How the optimiser is driven: the learning rate, a linear warm-up to it, and label smoothing."""

    lr: float
    warmup_steps: int = 0
    label_smoothing: float = 0.0


# paper: section 5 as written (SGD from lr 0.01 at once, plain cross-entropy). fast: the same SGD, momentum, decay and
# plateau rule, but warmed up over 200 steps to a 3x higher rate, with label smoothing 0.1; chosen by
# benchmarks/bench_first_minutes.py for the lowest validation error a few minutes after the start on a 2-core CPU.
RECIPES = {"paper": Recipe(lr=0.01), "fast": Recipe(lr=0.03, warmup_steps=200, label_smoothing=0.1)}
# The forward pass's precision: fp32, bf16 autocast, or auto: bf16 where it is faster (a CPU with AMX), else fp32.
PRECISIONS = ("auto", "fp32", "bf16")
# What the notebooks' training dashboard starts from (alexnet.widgets.TrainingSetup): chosen for learning that shows
# within minutes on a laptop CPU (benchmarks/bench_first_minutes.py); the CLI and build_trainer keep the paper's.
DASHBOARD_DEFAULTS = dict(model="cifar-alexnet", batch_size=64, recipe="fast", precision="auto")


def check_choice(name: str, value, choices: tuple) -> None:
    """A ValueError naming the argument and what it may be, unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def resolve_precision(precision: str, device: str = "cpu") -> str:
    """``"fp32"`` or ``"bf16"`` for ``precision`` on ``device``. ``"auto"`` is bf16 on a CPU with AMX (whose tile
    units multiply bf16 matrices: a training step about 1.2-1.5x faster) and fp32 everywhere else (without AMX, a
    CPU emulates bf16 products about ten times slower than fp32)."""
    check_choice("precision", precision, PRECISIONS)
    if precision != "auto":
        return precision
    import torch

    return "bf16" if str(device).startswith("cpu") and torch.cpu._is_amx_tile_supported() else "fp32"


def default_init(model: str) -> str:
    """The paper's N(0, 0.01) for the paper's AlexNet; torchvision's fan-in init for the small nets, where the
    paper's stalls at chance (90% error on CIFAR-10) for epochs."""
    return "paper" if model == "alexnet" else "modern"


def model_for_data(data: str, download: bool = False) -> tuple[str, str]:
    """(model, why) for data when no model is named: the CIFAR-size AlexNet for small images. Data that are not
    there are a FileNotFoundError saying what to do."""
    from .data import image_side

    side = image_side(data, download)
    if side is not None and side <= 64:
        return "cifar-alexnet", f"{side}x{side} images"
    return "alexnet", "full-size images" if side is None else f"images of up to {side} px"


@dataclass
class TrainChoices:
    """What a training run is, as a user picks it; the defaults are the paper's recipe (section 5).

    ``model`` None: the one that fits the data (:func:`model_for_data`); ``init`` None: the one that trains that
    model (:func:`default_init`). The CLI's ``train`` and the notebooks' ``build_trainer`` both start here, so the
    same data get the same defaults.
    """

    model: str | None = None
    mean: str = "pixel"
    augment: bool = True
    batch_size: int = 128
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 5e-4
    backend: str = "auto"
    init: str | None = None
    activation: str = "relu"
    seed: int = 0
    recipe: str = "paper"
    precision: str = "fp32"

    # What a resumed run may change: the learning rate (applied and recorded), the backend (the same function,
    # computed elsewhere) and the precision (the same function, rounded differently). Everything else is the run's.
    CHANGEABLE_ON_RESUME = ("lr", "backend", "precision")

    def __post_init__(self) -> None:
        if self.model is not None:
            check_choice("model", self.model, MODELS)
        check_choice("mean", self.mean, MEANS)
        check_choice("backend", self.backend, BACKENDS)
        if self.init is not None:
            check_choice("init", self.init, INITS)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("recipe", self.recipe, tuple(RECIPES))
        check_choice("precision", self.precision, PRECISIONS)

    def resolved(self, data: str, download: bool = False) -> tuple[TrainChoices, str | None]:
        """These choices with the model, init and lr filled in for ``data``, and why the model was picked (None
        when it was given)."""
        model, why = (self.model, None) if self.model is not None else model_for_data(data, download)
        lr = self.lr if self.lr is not None else RECIPES[self.recipe].lr
        return TrainChoices(**dict(asdict(self), model=model, init=self.init or default_init(model), lr=lr)), why

    @classmethod
    def from_checkpoint(cls, state: dict) -> dict:
        """The choices a checkpoint recorded, by name (None where it did not record one)."""
        spec = state.get("model_spec") or {}
        kwargs = spec.get("kwargs", {})
        config = state.get("train_config", {})
        data = state.get("data") or {}
        return dict(
            model=spec.get("name"), mean=data.get("mean"), augment=data.get("augment"),
            batch_size=config.get("batch_size"), lr=config.get("lr"), momentum=config.get("momentum"),
            weight_decay=config.get("weight_decay"), backend=kwargs.get("backend"), init=kwargs.get("init"),
            activation=kwargs.get("activation"), seed=config.get("seed"), recipe=config.get("recipe"),
            precision=config.get("precision"),
        )  # fmt: skip

    @classmethod
    def for_resume(cls, state: dict, given: dict) -> TrainChoices:
        """The run's own choices, with the ``given`` ones that a resume may change; a ValueError that names every
        given choice the checkpoint has otherwise (``given``: only what the user actually set)."""
        saved = cls.from_checkpoint(state)
        fixed = {name: value for name, value in given.items() if name not in cls.CHANGEABLE_ON_RESUME}
        conflicts = [(name, value, saved[name]) for name, value in fixed.items()
                     if saved[name] is not None and value != saved[name]]  # fmt: skip
        if conflicts:
            raise ResumeConflict(conflicts)
        defaults = {f.name: f.default for f in fields(cls)}
        merged = {name: saved[name] if saved[name] is not None else defaults[name] for name in defaults}
        merged.update({name: given[name] for name in cls.CHANGEABLE_ON_RESUME if name in given})
        merged["init"] = merged["init"] or "paper"  # checkpoints from before init was recorded were all trained so
        return cls(**merged)


class ResumeConflict(ValueError):
    """Choices given for a resume that differ from the run's own: ``conflicts`` is (name, given, recorded)."""

    def __init__(self, conflicts: list[tuple]) -> None:
        self.conflicts = conflicts
        said = [f"{name}={given!r} (the checkpoint has {saved!r})" for name, given, saved in conflicts]
        super().__init__("; ".join(said))
