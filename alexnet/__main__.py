"""Command line: train a model, evaluate a checkpoint, reproduce Figure 1 (``train``, ``evaluate``, ``relu-vs-tanh``).

A user error (missing data, a bad number, a run that would be overwritten) is one line on stderr and exit code 2;
``--debug`` (or ALEXNET_DEBUG=1) shows the traceback instead.

Examples:
    python -m alexnet train --model cifar-alexnet --data ../shared/data/cifar10-jpg.zip --epochs 3 --out runs/c10
    python -m alexnet train --resume runs/c10/checkpoint.pt --epochs 5     # continues in runs/c10
    python -m alexnet train --model alexnet --data /data/imagenet --device cuda --backend triton --out runs/in1k
    python -m alexnet evaluate --checkpoint runs/c10/checkpoint.pt --data ../shared/data/cifar10-jpg.zip
    python -m alexnet evaluate --weights cifar-alexnet-cifar10 --data ../shared/data/cifar10-jpg.zip
    python -m alexnet relu-vs-tanh --data ../shared/data/cifar10-jpg.zip --init modern
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import signal
import sys
import tempfile
from pathlib import Path

import torch

from ._allocator import keep_freed_memory
from .checkpoint import load_model, read_checkpoint
from .experiments.recipes import RECIPES
from .model import BACKENDS, CUDA_CONVNET_MODELS, INITS, MODELS, ModelSpec, input_size_of
from .train import RUN_FILES, TrainConfig, Trainer


class UsageError(Exception):
    """A mistake in what the user asked for: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (its default prints the whole usage block first)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(kind, low: float, inclusive: bool, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not math.isfinite(value) or value < low or (value == low and not inclusive):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value

    return parse


positive_int = _number(int, 0, False, "an integer >= 1")
nonnegative_int = _number(int, 0, True, "an integer >= 0")
positive_float = _number(float, 0.0, False, "a finite number > 0")
nonnegative_float = _number(float, 0.0, True, "a finite number >= 0")

# train's options and their defaults. They are parsed as None so that a resume can tell given from not given:
# what is not given comes from the checkpoint.
TRAIN_DEFAULTS = dict(
    model=None, mean="pixel", no_augment=False, batch_size=128, lr=0.01, momentum=0.9, weight_decay=5e-4,
    backend="auto", init=None, activation="relu", seed=0,
)  # fmt: skip
# model None: the one that fits the data (see model_for_data); init None: the one that trains that model.


def default_init(model: str) -> str:
    """The paper's N(0, 0.01) for the paper's AlexNet; torchvision's fan-in init for the small nets, where the
    paper's stalls at chance (90% error on CIFAR-10) for epochs."""
    return "paper" if model == "alexnet" else "modern"


def model_for_data(data: str) -> tuple[str, str]:
    """(model, why) for ``--data`` when --model is not given: the CIFAR-size AlexNet for small images."""
    from .data import image_side

    side = image_side(data)
    if side is not None and side <= 64:
        return "cifar-alexnet", f"{side}x{side} images"
    return "alexnet", "full-size images" if side is None else f"images of up to {side} px"


def _add_data_args(parser: argparse.ArgumentParser, mean_default: str | None = "pixel") -> None:
    parser.add_argument(
        "--data",
        required=True,
        help="'cifar10', 'imagenette', or a folder/zip in image-folder layout (root/train/<class>/<image> and "
        "root/val/<class>/<image>, or root/<class>/<image>)",
    )
    parser.add_argument(
        "--mean",
        default=mean_default,
        choices=("pixel", "channel", "imagenet", "none"),
        help="mean to subtract: the training set's mean image (the paper, the default), its mean colour, "
        "ImageNet's, or none" + ("" if mean_default else "; default: what the checkpoint was trained with"),
    )
    parser.add_argument("--download", action="store_true", help="let torchvision download cifar10/imagenette")
    parser.add_argument("--workers", type=nonnegative_int, default=0, help="data-loading processes (0: this one)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m alexnet",
        description="AlexNet lab: train (the paper's recipe), evaluate a checkpoint or shipped weights, "
        "export-weights, relu-vs-tanh (Figure 1).",
        epilog="Run 'python -m alexnet COMMAND --help' for a command's options.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    for add in (_add_train, _add_evaluate, _add_export_weights, _add_relu_vs_tanh, _add_lrn_overlap):
        add(sub)
    return parser


def _add_train(sub) -> None:
    """``train``: the paper's recipe, resumable, never over an existing run."""
    train = sub.add_parser(
        "train",
        help="train a model (the paper's recipe by default)",
        description="Train with SGD (momentum 0.9, weight decay 5e-4, batch 128, lr 0.01 divided by 10 when the "
        "validation error plateaus). Writes metrics.jsonl, epochs.csv and checkpoint.pt (after every epoch and "
        "when stopped with Ctrl-C or SIGTERM, between two steps) to --out. A folder that holds a run is never "
        "overwritten: continue it with --resume, or start over with --overwrite. On --resume, options not given "
        "come from the checkpoint; --lr and --epochs/--steps may change, other settings may not.",
    )
    train.add_argument("--model", default=None, choices=MODELS,
                       help="network (default: cifar-alexnet for 32x32 images such as CIFAR-10, the paper's alexnet "
                       "for larger ones)")  # fmt: skip
    _add_data_args(train, mean_default=None)
    train.add_argument("--subset", type=positive_int, default=None,
                       help="train on this many images (32x32 models: cifar-alexnet, four-layer)")  # fmt: skip
    train.add_argument("--epochs", type=positive_int, default=90, help="train until this many epochs are done")
    train.add_argument("--steps", type=positive_int, default=None, help="train this many mini-batches instead")
    train.add_argument("--batch-size", type=positive_int, default=None, help="default 128")
    train.add_argument("--lr", type=positive_float, default=None, help="default 0.01")
    train.add_argument("--momentum", type=nonnegative_float, default=None, help="default 0.9")
    train.add_argument("--weight-decay", type=nonnegative_float, default=None, help="default 5e-4")
    train.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    train.add_argument("--backend", "--kernels", dest="backend", default=None, choices=BACKENDS,
                       help="how the ReLU/LRN/pool stages run (--kernels: its old name)")  # fmt: skip
    train.add_argument("--init", default=None, choices=INITS,
                       help="weight initialisation (default: paper for alexnet, modern for the smaller nets)")
    train.add_argument("--activation", default=None, choices=("relu", "tanh"), help="four-layer model only")
    train.add_argument("--no-augment", action="store_true", default=None, help="no random crops, flips or colour")
    train.add_argument("--seed", type=int, default=None)
    train.add_argument("--out", default=None, help="folder for metrics and checkpoints (default on --resume: its)")
    train.add_argument("--resume", default=None, help="checkpoint to continue from")
    train.add_argument("--overwrite", action="store_true", help="start over in an --out that holds a run")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--parallel",
        default="none",
        choices=("none", "data", "columns", "hybrid"),
        help="under torchrun: data (DDP), columns (2 ranks, one column each, as in the paper), hybrid (pairs hold "
        "the columns, pairs split the data); see alexnet/parallel.py",
    )
    train.add_argument("--devices", nargs=2, default=None, metavar=("DEV0", "DEV1"),
                       help="one process, column 0 on DEV0 and column 1 on DEV1 (e.g. cuda:0 cuda:1)")  # fmt: skip


def _add_evaluate(sub) -> None:
    """``evaluate``: a checkpoint or shipped weights on a data set's validation images."""
    evaluate = sub.add_parser(
        "evaluate",
        help="top-1/top-5 error of a checkpoint or of shipped weights",
        description="Top-1 and top-5 error (and loss) of a checkpoint on the validation images of --data, prepared "
        "as the checkpoint's training data were (its mean), on the centre crop or the paper's ten crops.",
    )
    which = evaluate.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkpoint", help="a training checkpoint")
    which.add_argument("--weights", help="shipped weights by name (see alexnet.hub.available())")
    _add_data_args(evaluate, mean_default=None)
    evaluate.add_argument("--ten-crop", action="store_true", help="average over the paper's ten crops")
    evaluate.add_argument("--batch-size", type=positive_int, default=128)
    evaluate.add_argument("--json", action="store_true", help="print the result as one JSON object")
    evaluate.add_argument("--device", default="cpu")
    evaluate.add_argument("--backend", "--kernels", dest="backend", default=None, choices=BACKENDS,
                          help="LRN/pool backend (default: auto with --weights, else the checkpoint's)")  # fmt: skip


def _add_export_weights(sub) -> None:
    """``export-weights``: a checkpoint shipped as fp16 weights with a manifest (see alexnet.hub)."""
    export = sub.add_parser(
        "export-weights",
        help="ship a checkpoint's weights (fp16 + manifest) for alexnet.pretrained()",
        description="Write <name>.pt (fp16 state dict, the preprocessing's mean and std, the class names) and "
        "<name>.json (training command, recipe, data, epochs, the validation error of the fp16 weights measured "
        "on --data, sha256) to --folder (default: the package's alexnet/weights/). Existing weights of that name "
        "are only replaced with --overwrite.",
    )
    export.add_argument("--checkpoint", required=True)
    export.add_argument("--name", required=True, help="e.g. cifar-alexnet-cifar10")
    export.add_argument("--data", required=True, help="the data the checkpoint was trained on (to evaluate)")
    export.add_argument("--train-command", required=True, help="the training command, recorded in the manifest")
    export.add_argument("--note", default="", help="a sentence for the manifest (e.g. where it was trained)")
    export.add_argument("--folder", default=None)
    export.add_argument("--overwrite", action="store_true")


def _add_relu_vs_tanh(sub) -> None:
    """``relu-vs-tanh``: Figure 1's learning-rate search under a named recipe."""
    figure1 = sub.add_parser(
        "relu-vs-tanh",
        help="reproduce Figure 1: ReLU vs tanh convergence on CIFAR-10",
        description="Figure 1 under a named recipe (default: cuda-convnet's, the paper's own): each activation's "
        "learning rate searched over its grid (runs that can no longer win stop early), the chosen lr repeated "
        "with --seeds seeds, until the training error reaches --target. Writes results-<recipe>.json (after every "
        "run: --resume continues a killed sweep) and figure1-<recipe>.png to --out. The committed results are only "
        "rewritten when --out names their folder and --resume or --overwrite is given.",
    )
    figure1.add_argument("--recipe", default="cuda-convnet", choices=tuple(RECIPES), help="default: cuda-convnet")
    figure1.add_argument("--data", default="cifar10", help="'cifar10' (torchvision) or an image-folder copy/zip")
    figure1.add_argument("--download", action="store_true", help="let torchvision download cifar10")
    figure1.add_argument("--lrs", type=positive_float, nargs="+", default=None, help="one grid for both")
    figure1.add_argument("--lrs-relu", type=positive_float, nargs="+", default=None, help="grid for ReLU")
    figure1.add_argument("--lrs-tanh", type=positive_float, nargs="+", default=None, help="grid for tanh")
    figure1.add_argument("--seeds", type=positive_int, default=3, help="runs of each chosen lr (default 3)")
    figure1.add_argument("--target", type=float, default=0.25, help="training error to reach (default 0.25)")
    figure1.add_argument("--max-epochs", type=positive_int, default=60)
    figure1.add_argument("--batch-size", type=positive_int, default=128)
    figure1.add_argument("--subset", type=positive_int, default=None, help="train on this many images only")
    figure1.add_argument("--device", default="cpu")
    figure1.add_argument("--threads", type=positive_int, default=None, help="CPU threads (default: torch's)")
    figure1.add_argument("--out", default="runs/relu_vs_tanh", help="results folder (default: runs/relu_vs_tanh)")
    figure1.add_argument("--resume", action="store_true", help="continue the sweep whose results are in --out")
    figure1.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    figure1.add_argument("--quiet", action="store_true")

def _add_lrn_overlap(sub) -> None:
    """``lrn-overlap``: the paper's CIFAR-10 claims for LRN and overlapping pooling, under cuda-convnet's configs."""
    from .cuda_convnet import VARIANTS

    study = sub.add_parser(
        "lrn-overlap",
        help="what LRN and overlapping pooling buy on CIFAR-10 (cuda-convnet's 13pct/11pct networks)",
        description="Train cuda-convnet's CIFAR-10 networks with its recipe (24x24 crops and flips, the mean image, "
        "its update rule, per-layer rates and weight decay, its schedule: 13pct 160 epochs, 11pct 520) for every "
        "variant and seed, seed by seed. Writes results.json after every epoch and each run's state to state/ in "
        "--out, so --resume continues a killed study to the same weights. On 2 CPU cores an epoch of the 13pct "
        "net takes minutes: the whole plan is days of work, run in as many sittings as you like.",
    )
    study.add_argument("--data", required=True, help="CIFAR-10: 'cifar10' (torchvision) or an image-folder copy/zip")
    study.add_argument("--download", action="store_true", help="let torchvision download cifar10")
    study.add_argument("--variant", action="append", choices=tuple(VARIANTS), default=None,
                       help="run only this variant (repeat; default: the plan 13pct, 13pct+lrn, 13pct-nonoverlap "
                       "with 3 seeds, 11pct with 1)")  # fmt: skip
    study.add_argument("--seeds", type=positive_int, default=None, help="seeds per variant (default: the plan's)")
    study.add_argument("--epochs", type=positive_int, default=None, help="cut every schedule to this many epochs")
    study.add_argument("--max-runs", type=positive_int, default=None, help="stop after this many runs")
    study.add_argument("--device", default="cpu")
    study.add_argument("--backend", default="auto", choices=BACKENDS, help="how LRN and pooling run")
    study.add_argument("--threads", type=positive_int, default=None, help="CPU threads (default: torch's)")
    study.add_argument("--memory-format", choices=("channels-last", "contiguous"), default="channels-last",
                       help="for runs that begin now (fp32 either way; channels-last is 1.1-1.4x faster on a CPU); "
                       "a run already begun keeps its own")  # fmt: skip
    study.add_argument("--out", default="runs/lrn_overlap", help="results folder (default: runs/lrn_overlap)")
    study.add_argument("--resume", action="store_true", help="continue the study whose results are in --out")
    study.add_argument("--quiet", action="store_true")


def cmd_lrn_overlap(args) -> int:
    from .data import load_datasets
    from .experiments import lrn_overlap

    check_device(args.device)
    check_backend(args.backend, [args.device])
    out = Path(args.out)
    check_writable_folder(out, "--out")
    if (out / "results.json").exists() and not args.resume:
        raise UsageError(f"--out {out} already holds a study (results.json): pass --resume to continue it")
    plan = lrn_overlap.PLAN
    if args.variant:
        plan = tuple((v, s) for v, s in plan if v in args.variant)
    if args.seeds:
        plan = tuple((v, args.seeds) for v, _ in plan)
    if args.threads:
        torch.set_num_threads(args.threads)
    sets = load_datasets(args.data, input_size=32, mean="none", augment=False, download=args.download)
    data = lrn_overlap.Data.from_tensors(sets.train.images, sets.train.labels, sets.val.images, sets.val.labels,
                                         device=args.device)  # fmt: skip
    results = lrn_overlap.run_study(data, out, plan=plan, epochs=args.epochs, backend=args.backend,
                                    resume=args.resume, progress=not args.quiet, max_runs=args.max_runs,
                                    memory_format=args.memory_format.replace("-", "_"))  # fmt: skip
    for row in lrn_overlap.summary(results, plan):
        print(lrn_overlap.summary_line(row))
    print(lrn_overlap.remaining_line(lrn_overlap.remaining(results, plan)))
    print(f"saved {out / 'results.json'}")
    return 0


def check_device(device: str, option: str = "--device") -> None:
    """Refuse a device this machine does not have, before any data are loaded."""
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UsageError(f"{option} {device}: not a device name (cpu, cuda, cuda:1, ...)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"{option} {device}: no CUDA GPU is visible here (torch.cuda.is_available() is False)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(f"{option} {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")


def check_backend(backend: str, devices: list[str]) -> None:
    if backend != "triton":
        return
    from kernels._utils import HAS_TRITON, interpreter_enabled

    if not HAS_TRITON:
        raise UsageError("--backend triton: the triton package is not installed")
    if any(torch.device(d).type != "cuda" for d in devices) and not interpreter_enabled():
        raise UsageError(
            "--backend triton needs a CUDA --device (or TRITON_INTERPRET=1 for Triton's slow CPU interpreter); "
            "use --backend auto or torch on the CPU"
        )


def check_writable_folder(path: Path, option: str) -> None:
    """``path`` is (or can be made) a folder we can write to: checked before hours of training, not after."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise UsageError(f"{option} {path} is not writable: {err.strerror or err}") from None


def cmd_relu_vs_tanh(args) -> int:
    from .data import load_datasets
    from .experiments import figure1

    lrs = {}
    if args.lrs is not None:
        lrs = {"relu": args.lrs, "tanh": args.lrs}
    if args.lrs_relu is not None:
        lrs["relu"] = args.lrs_relu
    if args.lrs_tanh is not None:
        lrs["tanh"] = args.lrs_tanh
    settings = figure1.SearchSettings(
        recipe=args.recipe, lrs=lrs, seeds=args.seeds, target=args.target, max_epochs=args.max_epochs,
        batch_size=args.batch_size, data=str(args.data), subset=args.subset, device=args.device,
    )  # fmt: skip
    check_device(args.device)
    if args.resume and args.overwrite:
        raise UsageError("--resume continues the results in --out, --overwrite replaces them: give one")
    out = Path(args.out)
    check_writable_folder(out, "--out")
    paths = figure1.result_paths(out, args.recipe)
    existing = [p.name for p in paths if p.exists()]
    if existing and not (args.overwrite or args.resume):
        raise UsageError(
            f"--out {out} already holds {', '.join(existing)}: pass --resume to continue that sweep or --overwrite "
            "to replace it"
        )
    if args.threads:
        torch.set_num_threads(args.threads)
    train_set = load_datasets(args.data, input_size=32, mean="none", augment=False, download=args.download).train
    results = figure1.run_search(
        settings, train_set.images, train_set.labels, out, resume=args.resume, progress=not args.quiet
    )
    figure1.plot(results, paths[1])
    print(figure1.describe(results))
    print(f"saved {paths[0]} and {paths[1]}")
    return 0


def _settings_of(state: dict) -> dict:
    """train's options as a checkpoint recorded them (None where an older checkpoint did not)."""
    spec = state.get("model_spec") or {}
    kwargs = spec.get("kwargs", {})
    config = state.get("train_config", {})
    data = state.get("data") or {}
    augment = data.get("augment")
    return dict(
        model=spec.get("name"), mean=data.get("mean"), no_augment=None if augment is None else not augment,
        batch_size=config.get("batch_size"), lr=config.get("lr"), momentum=config.get("momentum"),
        weight_decay=config.get("weight_decay"), backend=kwargs.get("backend", kwargs.get("kernels")),
        init=kwargs.get("init"),
        activation=kwargs.get("activation"), seed=config.get("seed"),
    )  # fmt: skip


# Settings a resume may change: the learning rate (applied and recorded) and the backend (the same function,
# computed elsewhere). The epochs or steps to train are not settings but how far to go.
CHANGEABLE_ON_RESUME = ("lr", "backend")


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def resolve_train_settings(args) -> tuple[dict, dict | None]:
    """(settings, checkpoint state or None): defaults for a new run; the checkpoint's, checked, for a resume."""
    given = {key: getattr(args, key) for key in TRAIN_DEFAULTS if getattr(args, key) is not None}
    if not args.resume:
        return {**TRAIN_DEFAULTS, **given}, None
    state = read_checkpoint(args.resume)
    saved = _settings_of(state)
    conflicts = [
        f"{_option(key)} {value} (the checkpoint has {saved[key]})"
        for key, value in given.items()
        if key not in CHANGEABLE_ON_RESUME and saved[key] is not None and value != saved[key]
    ]
    if conflicts:
        raise UsageError(
            f"--resume {args.resume}: {'; '.join(conflicts)}: a resumed run keeps its settings (leave these out, "
            "or start a new run)"
        )
    settings = {key: saved[key] if saved[key] is not None else TRAIN_DEFAULTS[key] for key in TRAIN_DEFAULTS}
    settings.update({key: given[key] for key in CHANGEABLE_ON_RESUME if key in given})
    if settings["init"] is None:
        settings["init"] = "paper"  # checkpoints from before init was recorded were all trained with it
    return settings, state


def _spec_from_settings(settings: dict, num_classes: int) -> ModelSpec:
    if settings["model"] == "four-layer":
        kwargs = dict(activation=settings["activation"], num_classes=num_classes, init=settings["init"])
        return ModelSpec("four-layer", kwargs)
    kwargs = dict(num_classes=num_classes, backend=settings["backend"], init=settings["init"])
    return ModelSpec(settings["model"], kwargs)


def check_out_folder(out: Path, resume: str | None, overwrite: bool) -> None:
    """Never lose a run: an --out that holds one is only continued (from its own checkpoint) or, if asked, reset."""
    existing = [name for name in RUN_FILES if (out / name).exists()]
    own_checkpoint = resume is not None and Path(resume).resolve() == (out / "checkpoint.pt").resolve()
    if overwrite and own_checkpoint:
        raise UsageError(f"--overwrite would delete {resume}, the checkpoint --resume continues from")
    if not existing or overwrite or own_checkpoint:
        return
    if resume is None:
        raise UsageError(
            f"--out {out} already holds a run ({', '.join(existing)}): continue it with --resume "
            f"{out / 'checkpoint.pt'}, or start over with --overwrite"
        )
    raise UsageError(f"--out {out} holds another run: resume into a new folder, or pass --overwrite to replace it")


def _check_train_args(args, settings: dict) -> Path:
    """Everything about a train command that can be wrong, checked before any data are read; returns --out."""
    if args.out is None and args.resume is None:
        raise UsageError("--out is required: the folder for the run's checkpoint and metrics")
    out = Path(args.out) if args.out is not None else Path(args.resume).parent
    devices = list(args.devices) if args.devices else [args.device]
    for option, device in zip(("--devices", "--devices") if args.devices else ("--device",), devices):
        check_device(device, option)
    check_backend(settings["backend"], devices)
    check_writable_folder(out, "--out")
    check_out_folder(out, args.resume, args.overwrite)
    _choose_model(args, settings)
    if settings["model"] in CUDA_CONVNET_MODELS:
        variant = settings["model"].removeprefix("cuda-convnet-")
        raise UsageError(f"--model {settings['model']} trains with cuda-convnet's own recipe (24x24 crops, its update "
                         f"rule and schedule): python -m alexnet lrn-overlap --variant {variant} --data ...")
    columns_needed = "--devices" if args.devices else f"--parallel {args.parallel}"
    if settings["model"] in ("four-layer", "cifar-alexnet-grouped") and (
        args.devices or args.parallel in ("columns", "hybrid")
    ):
        raise UsageError(f"{columns_needed}: model {settings['model']} has no columns to place (use alexnet or "
                         "cifar-alexnet)")  # fmt: skip
    size = ModelSpec(settings["model"]).input_size
    if args.subset is not None and size != 32:
        raise UsageError(
            f"--subset: --model {settings['model']} trains on {size}x{size} crops of full-size images, where "
            "--subset is not offered; for CIFAR-10 and other 32x32 data use --model cifar-alexnet (or leave "
            "--model out)"
        )
    return out


def _choose_model(args, settings: dict) -> None:
    """Fill in the model (and its init) when the command line left them out; say what was picked and why."""
    if settings["model"] is None:
        settings["model"], why = model_for_data(args.data)
        other = "--model alexnet for the paper's 227x227 network" if settings["model"] != "alexnet" else (
            "--model cifar-alexnet for 32x32 images")  # fmt: skip
        print(f"--model not given: {why} in --data, so {settings['model']} ({other})")
    elif settings["model"] == "alexnet" and not args.resume:
        from .data import image_side

        side = image_side(args.data)
        if side is not None and side <= 64:
            print(f"note: --model alexnet upscales these {side}x{side} images to 227x227 crops: 61M parameters, "
                  "about 4 s a step on a laptop CPU; --model cifar-alexnet is the network for them", file=sys.stderr)
    if settings["init"] is None:
        settings["init"] = default_init(settings["model"])


def cmd_train(args) -> int:
    from .data import load_datasets

    settings, state = resolve_train_settings(args)
    out = _check_train_args(args, settings)
    spec = ModelSpec(**state["model_spec"]) if state else None
    if spec is not None and spec.name != "four-layer":
        spec.kwargs.pop("kernels", None)  # its old name, in older checkpoints
        spec.kwargs["backend"] = settings["backend"]
    size = spec.input_size if spec else ModelSpec(settings["model"]).input_size  # no model is built just to ask
    augment = not settings["no_augment"]
    data = load_datasets(args.data, input_size=size, mean=settings["mean"], augment=augment, download=args.download)
    if args.subset is not None:
        data.train = data.train.subset(min(args.subset, len(data.train)), seed=settings["seed"])
    if spec is None:
        spec = _spec_from_settings(settings, num_classes=len(data.classes))
    dist_ctx = None
    if args.parallel != "none":
        from .parallel import init_distributed

        dist_ctx = init_distributed(args.parallel)
    model = spec.build(seed=settings["seed"])  # every rank builds the same initial weights
    if args.devices:
        from .parallel import place_columns

        place_columns(model, args.devices)
    config = TrainConfig(
        lr=settings["lr"], momentum=settings["momentum"], weight_decay=settings["weight_decay"],
        batch_size=settings["batch_size"], seed=settings["seed"], device=args.device, num_workers=args.workers,
    )  # fmt: skip
    preprocessing = dict(mean=settings["mean"], augment=augment, subset=args.subset)
    trainer = Trainer(
        model, data.train, data.val, config, log_dir=out, spec=spec, dist_ctx=dist_ctx, preprocessing=preprocessing,
        overwrite=args.overwrite,
    )  # fmt: skip
    if args.resume:
        trainer.load_checkpoint(args.resume)
        # A new --lr is applied; the run's own (the same command line again) leaves the schedule's lr alone.
        if args.lr is not None and args.lr != _settings_of(state)["lr"]:
            print(f"lr: {trainer.lr:g} -> {args.lr:g} (recorded in the checkpoint)")
            trainer.set_lr(args.lr)
        print(f"resumed {args.resume} at epoch {trainer.epoch}, step {trainer.global_step}")
    print(f"training {spec.name} on {data.source}: {len(data.train)} train / {len(data.val)} val images, "
          f"{len(data.classes)} classes, {trainer.steps_per_epoch} steps per epoch")  # fmt: skip
    callbacks = []
    # Figure 3's column split, per epoch (see alexnet.viz.ColourSpecificityLog)
    if spec.name != "four-layer" and (dist_ctx is None or dist_ctx.is_main):
        from .viz import ColourSpecificityLog

        callbacks.append(ColourSpecificityLog(out / "colour-specificity.json"))
    if args.steps is not None:
        trainer.run(steps=args.steps, callbacks=callbacks, progress=not args.quiet)
    else:
        trainer.run(epochs=args.epochs, callbacks=callbacks, progress=not args.quiet)
    path = out / "checkpoint.pt"
    if trainer.interrupted:  # run() stopped between two steps and saved
        print(f"\n{trainer.interrupted}: stopped at step {trainer.global_step}, saved {path}; continue with "
              f"--resume {path}", file=sys.stderr)  # fmt: skip
        return 130 if trainer.interrupted == "SIGINT" else 143
    trainer.save_checkpoint(path)
    if dist_ctx is not None:
        from .parallel import shutdown_distributed

        shutdown_distributed()
        if not dist_ctx.is_main:
            return 0
    for record in trainer.epochs[-5:]:
        print(epoch_line(record))
    if len(trainer.epochs) > 5:
        print(f"(every epoch: {out / 'epochs.csv'})")
    hint = chance_hint(trainer.epochs, len(data.classes), spec)
    if hint:
        print(hint, file=sys.stderr)
    print(f"saved {path}")
    return 0


def epoch_line(record: dict) -> str:
    """One epoch as a sentence (the JSON stays in metrics.jsonl)."""
    line = (f"epoch {record['epoch'] + 1}: train loss {record['train_loss']:.3f}, train top-1 error "
            f"{record['train_top1_err']:.1%}")  # fmt: skip
    if "val_top1_err" in record:
        line += f", validation top-1 error {record['val_top1_err']:.1%} (top-5 {record['val_top5_err']:.1%})"
    return line + f", {record['epoch_seconds']:.0f} s, lr {record['lr']:.0e}"


def chance_hint(epochs: list[dict], num_classes: int, spec: ModelSpec) -> str | None:
    """A warning when the run ends no better than guessing, with the usual cause."""
    if not epochs or "val_top1_err" not in epochs[-1] or num_classes < 2:
        return None
    chance = 1 - 1 / num_classes
    if epochs[-1]["val_top1_err"] < chance - 0.02:
        return None
    why = "train longer, or lower --lr"
    if spec.kwargs.get("init") == "paper" and spec.name != "alexnet":
        why = "the paper's init stalls this network for epochs: try --init modern"
    return (f"note: validation top-1 error {epochs[-1]['val_top1_err']:.1%} is chance level for {num_classes} "
            f"classes ({chance:.0%}): {why}")  # fmt: skip


def cmd_evaluate(args) -> int:
    from .data import load_datasets
    from .train import evaluate

    check_device(args.device)
    if args.weights is not None:
        return _evaluate_weights(args)
    state = read_checkpoint(args.checkpoint)
    recorded = state.get("data") or {}
    if args.mean is not None and recorded.get("mean") not in (None, args.mean):
        raise UsageError(
            f"--mean {args.mean}: the checkpoint was trained with --mean {recorded['mean']} (leave --mean out to "
            "use it)"
        )
    mean = args.mean or recorded.get("mean") or "pixel"
    if args.backend is not None:
        check_backend(args.backend, [args.device])
    model = load_model(args.checkpoint, args.device, backend=args.backend)
    size = input_size_of(model)
    if args.ten_crop and size == 32:
        raise UsageError("--ten-crop needs an ImageNet-size model (crops of a 256x256 image)")
    data = load_datasets(args.data, input_size=size, mean=mean, augment=False, download=args.download)
    saved_classes = recorded.get("classes")
    if saved_classes is not None and list(saved_classes) != list(data.classes):
        raise UsageError(
            f"{args.checkpoint} was trained on {len(saved_classes)} classes, --data {args.data} has "
            f"{len(data.classes)} ({', '.join(data.classes[:4])}{', ...' if len(data.classes) > 4 else ''})"
        )
    if args.ten_crop:
        data.val.transform.crop = 256  # the full image: the ten crops are taken in evaluate()
    result = evaluate(model, data.val, ten_crop=args.ten_crop, batch_size=args.batch_size, device=args.device,
                      progress=True,
                      num_workers=args.workers)  # fmt: skip
    _print_result(args, dict(checkpoint=args.checkpoint, data=str(args.data), mean=mean, ten_crop=args.ten_crop,
                             **result))  # fmt: skip
    return 0


def _print_result(args, result: dict) -> None:
    """evaluate's answer: a sentence, or one JSON object with --json (for scripts)."""
    if args.json:
        print(json.dumps(result))
        return
    what = f"--weights {result['weights']}" if "weights" in result else result["checkpoint"]
    crops = ", ten crops" if result.get("ten_crop") else ""
    line = (f"{what} on {result['images']:,} validation images of {result['data']}{crops}: top-1 error "
            f"{result['top1_err']:.2%}, top-5 error {result['top5_err']:.2%}, loss {result['loss']:.3f}")  # fmt: skip
    if "recorded_top1_err" in result:
        line += f" (recorded: top-1 {result['recorded_top1_err']:.2%})"
    print(line)


def _evaluate_weights(args) -> int:
    """evaluate --weights NAME: the shipped model on --data's validation images, with its own preprocessing."""
    from .data import load_datasets
    from .hub import get_weights
    from .train import evaluate

    if args.mean is not None:
        raise UsageError("--mean: shipped weights come with their own preprocessing (leave --mean out)")
    if args.ten_crop:
        raise UsageError("--ten-crop needs an ImageNet-size model (crops of a 256x256 image)")
    weights = get_weights(args.weights)
    check_backend(args.backend or "auto", [args.device])
    model = weights.build(device=args.device, backend=args.backend or "auto")
    data = load_datasets(args.data, input_size=input_size_of(model), mean="none", augment=False,
                         download=args.download)  # fmt: skip
    if list(data.classes) != weights.classes:
        raise UsageError(f"--weights {args.weights} knows {len(weights.classes)} classes "
                         f"({', '.join(weights.classes[:4])}, ...); --data {args.data} has {len(data.classes)} "
                         f"({', '.join(data.classes[:4])}{', ...' if len(data.classes) > 4 else ''})")  # fmt: skip
    data.val.transform = model.preprocess
    result = evaluate(model, data.val, batch_size=args.batch_size, device=args.device, num_workers=args.workers,
                      progress=True)
    _print_result(args, dict(weights=args.weights, data=str(args.data),
                             recorded_top1_err=weights.meta["val_top1_err"], **result))  # fmt: skip
    return 0


def cmd_export_weights(args) -> int:
    from .data import load_datasets
    from .hub import WEIGHTS_DIR, export

    state = read_checkpoint(args.checkpoint)
    recorded = state.get("data") or {}
    spec = ModelSpec(**state["model_spec"])
    data = load_datasets(args.data, input_size=spec.input_size, mean=recorded.get("mean") or "pixel", augment=False)
    if list(data.classes) != list(recorded.get("classes") or data.classes):
        raise UsageError(f"{args.checkpoint} was trained on other classes than --data {args.data} has")
    train_config = state["train_config"]
    recipe = dict(model=spec.name, init=spec.kwargs.get("init"),
                  **{k: train_config[k] for k in ("lr", "momentum", "weight_decay", "batch_size", "seed")},
                  lr_schedule="divided by 10 when the validation error stops improving (patience 1)",
                  augment=recorded.get("augment"), mean=recorded.get("mean"), note=args.note)  # fmt: skip
    data_info = dict(source=Path(args.data).name, train_images=len(data.train), val_images=len(data.val),
                     subset=recorded.get("subset"))  # fmt: skip
    folder = Path(args.folder) if args.folder else WEIGHTS_DIR
    meta = export(args.checkpoint, args.name, data.val, command=args.train_command, recipe=recipe, data=data_info,
                  folder=folder, overwrite=args.overwrite)  # fmt: skip
    print(f"wrote {folder / meta['file']} ({meta['bytes'] / 1e6:.1f} MB) and {args.name}.json: "
          f"{meta['epochs']} epochs, validation top-1 error {meta['val_top1_err']:.4f} (fp16 weights)")
    return 0


COMMANDS = {
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "export-weights": cmd_export_weights,
    "relu-vs-tanh": cmd_relu_vs_tanh,
    "lrn-overlap": cmd_lrn_overlap,
}
TRAINING_COMMANDS = ("train", "relu-vs-tanh", "lrn-overlap")
# Errors that are the user's to fix (exit 2); anything else is one line too, with a pointer to --debug (exit 1).
USER_ERRORS = (UsageError, ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, PermissionError)


def describe(err: BaseException) -> str:
    """One line for an exception: OSError's own words (``no space left on device: path``), else its message."""
    if isinstance(err, OSError) and err.strerror:
        text = err.strerror[0].lower() + err.strerror[1:]
        return f"{text}: {err.filename}" if err.filename else text
    return " ".join(str(err).split()) or type(err).__name__


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if "--kernels" in (sys.argv[1:] if argv is None else argv):
        print("note: --kernels is now called --backend (the old name still works)", file=sys.stderr)
    debug = args.debug or os.environ.get("ALEXNET_DEBUG") == "1"
    prog = f"python -m alexnet {args.command}"
    if args.command in TRAINING_COMMANDS:
        keep_freed_memory()  # CPU steps stop paying for fresh pages (alexnet/_allocator.py); the same numbers
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if debug:
            raise
        if isinstance(err, USER_ERRORS) or (isinstance(err, OSError) and err.errno == errno.ENOSPC):
            print(f"{prog}: error: {describe(err)}", file=sys.stderr)
            return 2
        if isinstance(err, FloatingPointError):  # training diverged: the message says what to change
            print(f"{prog}: error: {describe(err)}", file=sys.stderr)
            return 1
        print(f"{prog}: error: {type(err).__name__}: {describe(err)} (--debug shows the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the work is done and saved: a late Ctrl-C changes nothing
    sys.exit(code)
