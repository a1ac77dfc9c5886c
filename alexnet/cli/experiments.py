"""``python -m alexnet relu-vs-tanh`` (Figure 1's search) and ``lrn-overlap`` (the LRN/overlapping-pooling study)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..choices import BACKENDS, MEMORY_FORMATS
from ..experiments.recipes import RECIPES
from .common import UsageError, check_backend, check_device, check_writable_folder, positive_float, positive_int


def add_relu_vs_tanh(sub) -> None:
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


def cmd_relu_vs_tanh(args) -> int:
    from ..data import load_datasets
    from ..experiments import figure1

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


def add_lrn_overlap(sub) -> None:
    """``lrn-overlap``: the paper's CIFAR-10 claims for LRN and overlapping pooling, under cuda-convnet's configs."""
    from ..cuda_convnet import VARIANTS

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
    study.add_argument("--memory-format", choices=MEMORY_FORMATS, default="channels_last",
                       help="for runs that begin now (fp32 either way; channels_last is 1.1-1.4x faster on a CPU); "
                       "a run already begun keeps its own")  # fmt: skip
    study.add_argument("--out", default="runs/lrn_overlap", help="results folder (default: runs/lrn_overlap)")
    study.add_argument("--resume", action="store_true", help="continue the study whose results are in --out")
    study.add_argument("--quiet", action="store_true")


def cmd_lrn_overlap(args) -> int:
    from ..data import load_datasets
    from ..experiments import lrn_overlap

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
                                    memory_format=args.memory_format)  # fmt: skip
    for row in lrn_overlap.summary(results, plan):
        print(lrn_overlap.summary_line(row))
    print(lrn_overlap.remaining_line(lrn_overlap.remaining(results, plan)))
    print(f"saved {out / 'results.json'}")
    return 0
