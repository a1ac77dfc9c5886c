"""``python -m alexnet train``: the paper's recipe, resumable, never over an existing run."""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path

from ..checkpoint import read_checkpoint
from ..choices import (
    ACTIVATIONS,
    BACKENDS,
    CUDA_CONVNET_MODELS,
    INITS,
    MODELS,
    PARALLEL_LAYOUTS,
    PRECISIONS,
    RECIPES,
    ResumeConflict,
    TrainChoices,
)
from ..model import ModelSpec
from ..train import RUN_FILES
from .common import (
    UsageError,
    add_data_args,
    check_backend,
    check_device,
    check_writable_folder,
    nonnegative_float,  # fmt: skip
    positive_float,
    positive_int,
)


def add_train(sub) -> None:
    """``train``: the paper's recipe, resumable, never over an existing run."""
    train = sub.add_parser(
        "train",
        help="train a model (the paper's recipe by default)",
        description="Train with SGD (momentum 0.9, weight decay 5e-4, batch 128, lr 0.01 divided by 10 when the "
        "validation error plateaus). Writes metrics.jsonl, epochs.csv and checkpoint.pt (after every epoch and "
        "when stopped with Ctrl-C or SIGTERM, between two steps) to --out. A folder that holds a run is never "
        "overwritten: continue it with --resume, or start over with --overwrite. On --resume, options not given "
        "come from the checkpoint; --lr, --backend, --precision and --epochs/--steps may change, other settings may "
        "not.",
    )
    train.add_argument("--model", default=None, choices=MODELS,
                       help="network (default: cifar-alexnet for 32x32 images such as CIFAR-10, the paper's alexnet "
                       "for larger ones)")  # fmt: skip
    add_data_args(train, mean_default=None)
    train.add_argument("--subset", type=positive_int, default=None,
                       help="train on this many images (32x32 models: cifar-alexnet, four-layer)")  # fmt: skip
    train.add_argument("--epochs", type=positive_int, default=90, help="train until this many epochs are done")
    train.add_argument("--steps", type=positive_int, default=None, help="train this many mini-batches instead")
    train.add_argument("--batch-size", type=positive_int, default=None, help="default 128")
    train.add_argument("--lr", type=positive_float, default=None, help="default: the recipe's (paper 0.01, fast 0.03)")
    train.add_argument("--recipe", default=None, choices=tuple(RECIPES),
                       help="paper (default: section 5 as written) or fast (a 200-step warm-up to 3x the rate, label "
                       "smoothing 0.1: lower error in the first minutes)")  # fmt: skip
    train.add_argument("--precision", default=None, choices=PRECISIONS,
                       help="fp32 (default), bf16 autocast, or auto: bf16 on a CPU with AMX, where it is faster")
    train.add_argument("--momentum", type=nonnegative_float, default=None, help="default 0.9")
    train.add_argument("--weight-decay", type=nonnegative_float, default=None, help="default 5e-4")
    train.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    train.add_argument("--backend", default=None, choices=BACKENDS, help="how the ReLU/LRN/pool stages run")
    train.add_argument("--init", default=None, choices=INITS,
                       help="weight initialisation (default: paper for alexnet, modern for the smaller nets)")
    train.add_argument("--activation", default=None, choices=ACTIVATIONS, help="four-layer model only")
    train.add_argument("--no-augment", action="store_true", default=None, help="no random crops, flips or colour")
    train.add_argument("--seed", type=int, default=None)
    train.add_argument("--out", default=None, help="folder for metrics and checkpoints (default on --resume: its)")
    train.add_argument("--resume", default=None, help="checkpoint to continue from")
    train.add_argument("--overwrite", action="store_true", help="start over in an --out that holds a run")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--parallel",
        default="none",
        choices=PARALLEL_LAYOUTS,
        help="under torchrun: data (DDP), columns (2 ranks, one column each, as in the paper), hybrid (pairs hold "
        "the columns, pairs split the data); see alexnet/parallel.py",
    )
    train.add_argument("--devices", nargs=2, default=None, metavar=("DEV0", "DEV1"),
                       help="one process, column 0 on DEV0 and column 1 on DEV1 (e.g. cuda:0 cuda:1)")  # fmt: skip


def train_choices(args) -> tuple[TrainChoices, dict | None]:
    """(choices, checkpoint state or None): the options given over the defaults for a new run; for a resume, the
    checkpoint's, with only what a resume may change taken from the command line."""
    given = {f.name: getattr(args, f.name) for f in fields(TrainChoices)
             if f.name != "augment" and getattr(args, f.name) is not None}  # fmt: skip
    if args.no_augment:
        given["augment"] = False
    if not args.resume:
        return TrainChoices(**given), None
    state = read_checkpoint(args.resume)
    try:
        return TrainChoices.for_resume(state, given), state
    except ResumeConflict as err:
        conflicts = [f"{_option(name, value)} (the checkpoint has {saved})" for name, value, saved in err.conflicts]
        raise UsageError(f"--resume {args.resume}: {'; '.join(conflicts)}: a resumed run keeps its settings (leave "
                         "these out, or start a new run)") from None  # fmt: skip


def _option(name: str, value) -> str:
    if name == "augment":
        return "--no-augment" if value is False else "augment"
    return f"--{name.replace('_', '-')} {value}"


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


def _check_train_args(args, choices: TrainChoices) -> tuple[TrainChoices, Path]:
    """Everything about a train command that can be wrong, checked before any data are read; returns --out."""
    if args.out is None and args.resume is None:
        raise UsageError("--out is required: the folder for the run's checkpoint and metrics")
    out = Path(args.out) if args.out is not None else Path(args.resume).parent
    devices = list(args.devices) if args.devices else [args.device]
    for option, device in zip(("--devices", "--devices") if args.devices else ("--device",), devices):
        check_device(device, option)
    check_backend(choices.backend, devices)
    check_writable_folder(out, "--out")
    check_out_folder(out, args.resume, args.overwrite)
    choices = _choose_model(args, choices)
    if choices.model in CUDA_CONVNET_MODELS:
        variant = choices.model.removeprefix("cuda-convnet-")
        raise UsageError(f"--model {choices.model} trains with cuda-convnet's own recipe (24x24 crops, its update "
                         f"rule and schedule): python -m alexnet lrn-overlap --variant {variant} --data ...")
    columns_needed = "--devices" if args.devices else f"--parallel {args.parallel}"
    if choices.model in ("four-layer", "cifar-alexnet-grouped") and (
        args.devices or args.parallel in ("columns", "hybrid")
    ):
        raise UsageError(f"{columns_needed}: model {choices.model} has no columns to place (use alexnet or "
                         "cifar-alexnet)")  # fmt: skip
    size = ModelSpec(choices.model).input_size
    if args.subset is not None and size != 32:
        raise UsageError(
            f"--subset: --model {choices.model} trains on {size}x{size} crops of full-size images, where "
            "--subset is not offered; for CIFAR-10 and other 32x32 data use --model cifar-alexnet (or leave "
            "--model out)"
        )
    return choices, out


def _choose_model(args, choices: TrainChoices) -> TrainChoices:
    """Fill in the model (and its init) when the command line left them out; say what was picked and why."""
    choices, why = choices.resolved(args.data, args.download)
    if why is not None:
        other = "--model alexnet for the paper's 227x227 network" if choices.model != "alexnet" else (
            "--model cifar-alexnet for 32x32 images")  # fmt: skip
        print(f"--model not given: {why} in --data, so {choices.model} ({other})")
    elif choices.model == "alexnet" and not args.resume:
        from ..data import image_side

        side = image_side(args.data)
        if side is not None and side <= 64:
            print(f"note: --model alexnet upscales these {side}x{side} images to 227x227 crops: 61M parameters, "
                  "about 4 s a step on a laptop CPU; --model cifar-alexnet is the network for them", file=sys.stderr)
    return choices


def cmd_train(args) -> int:
    from ..runs import load_data, make_trainer

    choices, state = train_choices(args)
    choices, out = _check_train_args(args, choices)
    spec = ModelSpec(**state["model_spec"]) if state else None
    if spec is not None and spec.name != "four-layer":
        spec.kwargs["backend"] = choices.backend
    data = load_data(args.data, choices, subset=args.subset, download=args.download)
    dist_ctx = None
    if args.parallel != "none":
        from ..parallel import init_distributed

        dist_ctx = init_distributed(args.parallel)
    trainer = make_trainer(choices, data, spec=spec, device=args.device, devices=args.devices, dist_ctx=dist_ctx,
                           log_dir=out, overwrite=args.overwrite, workers=args.workers, subset=args.subset)  # fmt: skip
    spec = trainer.spec
    if args.resume:
        trainer.load_checkpoint(args.resume)
        # A new --lr is applied; the run's own (the same command line again) leaves the schedule's lr alone.
        if args.lr is not None and args.lr != TrainChoices.from_checkpoint(state)["lr"]:
            print(f"lr: {trainer.lr:g} -> {args.lr:g} (recorded in the checkpoint)")
            trainer.set_lr(args.lr)
        print(f"resumed {args.resume} at epoch {trainer.epoch}, step {trainer.global_step}")
    print(f"training {spec.name} on {data.source}: {len(data.train)} train / {len(data.val)} val images, "
          f"{len(data.classes)} classes, {trainer.steps_per_epoch} steps per epoch")  # fmt: skip
    callbacks = []
    # Figure 3's column split, per epoch (see alexnet.conv1.ColourSpecificityLog)
    if spec.name != "four-layer" and (dist_ctx is None or dist_ctx.is_main):
        from ..conv1 import ColourSpecificityLog

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
        from ..parallel import shutdown_distributed

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
