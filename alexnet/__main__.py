"""Command line: ``python -m alexnet train ...`` and ``python -m alexnet evaluate ...``.

Examples:
    python -m alexnet train --model cifar-alexnet --data ../shared/data/cifar10-jpg.zip --epochs 3 --out runs/c10
    python -m alexnet train --resume runs/c10/checkpoint.pt --epochs 5 --out runs/c10
    python -m alexnet train --model alexnet --data /data/imagenet --device cuda --kernels triton --out runs/in1k
    python -m alexnet evaluate --checkpoint runs/c10/checkpoint.pt --data ../shared/data/cifar10-jpg.zip
    python -m alexnet relu-vs-tanh --data ../shared/data/cifar10-jpg.zip --init modern
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from .train import MODELS, ModelSpec, TrainConfig, Trainer, input_size_of, load_model, read_checkpoint


def _add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        required=True,
        help="'cifar10', 'imagenette', or a folder/zip in image-folder layout (root/train/<class>/<image> and "
        "root/val/<class>/<image>, or root/<class>/<image>)",
    )
    parser.add_argument(
        "--mean",
        default="pixel",
        choices=("pixel", "channel", "imagenet", "none"),
        help="mean to subtract: the training set's mean image (the paper), its mean colour, ImageNet's, or none",
    )
    parser.add_argument("--download", action="store_true", help="let torchvision download cifar10/imagenette")
    parser.add_argument("--workers", type=int, default=0, help="data-loading processes (0: load in this process)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m alexnet", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "train",
        help="train a model (the paper's recipe by default)",
        description="Train with SGD (momentum 0.9, weight decay 5e-4, batch 128, lr 0.01 divided by 10 when the "
        "validation error plateaus). Writes metrics.jsonl, epochs.csv and checkpoint.pt (after every epoch and "
        "when interrupted with Ctrl-C) to --out.",
    )
    train.add_argument("--model", default="alexnet", choices=MODELS, help="network (default: the paper's AlexNet)")
    _add_data_args(train)
    train.add_argument("--epochs", type=int, default=90, help="train until this many epochs are done in total")
    train.add_argument("--steps", type=int, default=None, help="train this many mini-batches instead of --epochs")
    train.add_argument("--batch-size", type=int, default=128)
    train.add_argument("--lr", type=float, default=0.01)
    train.add_argument("--momentum", type=float, default=0.9)
    train.add_argument("--weight-decay", type=float, default=5e-4)
    train.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    train.add_argument("--kernels", default="auto", choices=("auto", "triton", "torch"), help="LRN/pool backend")
    train.add_argument("--init", default="paper", choices=("paper", "modern"), help="weight initialisation")
    train.add_argument("--activation", default="relu", choices=("relu", "tanh"), help="four-layer model only")
    train.add_argument("--no-augment", action="store_true", help="no random crops, flips or colour noise")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", required=True, help="folder for metrics and checkpoints")
    train.add_argument("--resume", default=None, help="checkpoint to continue from (model settings come from it)")
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

    evaluate = sub.add_parser("evaluate", help="top-1/top-5 error of a checkpoint")
    evaluate.add_argument("--checkpoint", required=True)
    _add_data_args(evaluate)
    evaluate.add_argument("--ten-crop", action="store_true", help="average over the paper's ten crops")
    evaluate.add_argument("--batch-size", type=int, default=128)
    evaluate.add_argument("--device", default="cpu")

    figure1 = sub.add_parser(
        "relu-vs-tanh",
        help="reproduce Figure 1: ReLU vs tanh convergence on CIFAR-10",
        description="Train the four-layer CNN with ReLU and with tanh (each over its learning-rate grid, no "
        "regularization) until the training error reaches --target; write results-<init>.json and "
        "figure1-<init>.png to --out and print a summary. Run it once per --init to see how the answer moves.",
    )
    figure1.add_argument("--data", default="cifar10", help="'cifar10' (torchvision) or an image-folder copy/zip")
    figure1.add_argument("--lrs", type=float, nargs="+", default=None, help="one grid for both activations")
    figure1.add_argument("--lrs-relu", type=float, nargs="+", default=None, help="grid for ReLU (default 0.02)")
    figure1.add_argument("--lrs-tanh", type=float, nargs="+", default=None, help="grid for tanh (default 0.02)")
    figure1.add_argument("--target", type=float, default=0.25, help="training error to reach (default 0.25)")
    figure1.add_argument("--max-epochs", type=int, default=20)
    figure1.add_argument("--batch-size", type=int, default=128)
    figure1.add_argument("--init", default="modern", choices=("modern", "paper"))
    figure1.add_argument("--subset", type=int, default=None, help="train on this many images only")
    figure1.add_argument("--record-every", type=int, default=50, help="iterations per point of the fine curve")
    figure1.add_argument("--seed", type=int, default=0)
    figure1.add_argument("--device", default="cpu")
    figure1.add_argument("--out", default="benchmarks/results/relu_vs_tanh")
    figure1.add_argument("--quiet", action="store_true")
    return parser


def cmd_relu_vs_tanh(args) -> int:
    from .experiments import relu_vs_tanh as exp

    lrs = {k: list(v) for k, v in exp.DEFAULT_LRS.items()}
    if args.lrs is not None:
        lrs = {"relu": args.lrs, "tanh": args.lrs}
    if args.lrs_relu is not None:
        lrs["relu"] = args.lrs_relu
    if args.lrs_tanh is not None:
        lrs["tanh"] = args.lrs_tanh
    settings = exp.Settings(
        data=args.data, lrs=lrs, target=args.target, max_epochs=args.max_epochs, batch_size=args.batch_size,
        init=args.init, seed=args.seed, record_every=args.record_every, device=args.device, subset=args.subset,
    )  # fmt: skip
    results = exp.run_experiment(settings, progress=not args.quiet)
    json_path, png_path = exp.save(results, args.out)
    print(exp.summary(results))
    print(f"saved {json_path} and {png_path}")
    return 0


def _spec_from_args(args, num_classes: int) -> ModelSpec:
    if args.model == "four-layer":
        return ModelSpec("four-layer", dict(activation=args.activation, num_classes=num_classes, init=args.init))
    return ModelSpec(args.model, dict(num_classes=num_classes, kernels=args.kernels, init=args.init))


def cmd_train(args) -> int:
    from .data import load_datasets

    spec = ModelSpec(**read_checkpoint(args.resume)["model_spec"]) if args.resume else None
    size = spec.input_size if spec else ModelSpec(args.model).input_size  # no model is built just to ask
    data = load_datasets(
        args.data, input_size=size, mean=args.mean, augment=not args.no_augment, download=args.download
    )
    if spec is None:
        spec = _spec_from_args(args, num_classes=len(data.classes))
    dist_ctx = None
    if args.parallel != "none":
        from .parallel import init_distributed

        dist_ctx = init_distributed(args.parallel)
    torch.manual_seed(args.seed)  # every rank builds the same initial weights
    model = spec.build()
    if args.devices:
        from .parallel import place_columns

        place_columns(model, args.devices)
    config = TrainConfig(
        lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay, batch_size=args.batch_size,
        seed=args.seed, device=args.device, num_workers=args.workers,
    )  # fmt: skip
    trainer = Trainer(model, data.train, data.val, config, log_dir=args.out, spec=spec, dist_ctx=dist_ctx)
    if args.resume:
        trainer.load_checkpoint(args.resume)
        print(f"resumed {args.resume} at epoch {trainer.epoch}, step {trainer.global_step}")
    print(f"training {spec.name} on {data.source}: {len(data.train)} train / {len(data.val)} val images, "
          f"{len(data.classes)} classes, {trainer.steps_per_epoch} steps per epoch")  # fmt: skip
    try:
        if args.steps is not None:
            trainer.run(steps=args.steps, progress=not args.quiet)
        else:
            trainer.run(epochs=args.epochs, progress=not args.quiet)
    except KeyboardInterrupt:
        path = trainer.save_checkpoint(Path(args.out) / "checkpoint.pt")
        print(f"\ninterrupted: saved {path}; continue with --resume {path}")
        return 130
    path = trainer.save_checkpoint(Path(args.out) / "checkpoint.pt")
    if dist_ctx is not None:
        import torch.distributed as dist

        dist.destroy_process_group()
        if not dist_ctx.is_main:
            return 0
    for record in trainer.epochs:
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()}))
    print(f"saved {path}")
    return 0


def cmd_evaluate(args) -> int:
    from .data import load_datasets
    from .train import Trainer

    model = load_model(args.checkpoint, args.device)
    size = input_size_of(model)
    data = load_datasets(args.data, input_size=size, mean=args.mean, augment=False, download=args.download)
    if args.ten_crop:
        if size == 32:
            raise SystemExit("evaluate: --ten-crop needs an ImageNet-size model (crops of a 256x256 image)")
        data.val.transform.crop = 256  # the full image: the ten crops are taken in evaluate()
    trainer = Trainer(model, data.train, data.val, TrainConfig(batch_size=args.batch_size, device=args.device))
    result = trainer.evaluate(ten_crop=args.ten_crop)
    print(json.dumps(dict(checkpoint=args.checkpoint, data=str(args.data), ten_crop=args.ten_crop, **result)))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"train": cmd_train, "evaluate": cmd_evaluate, "relu-vs-tanh": cmd_relu_vs_tanh}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
