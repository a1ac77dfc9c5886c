"""``python -m alexnet evaluate`` (a checkpoint or shipped weights) and ``export-weights``."""

from __future__ import annotations

import json
from pathlib import Path

from ..checkpoint import load_model, read_checkpoint
from ..choices import BACKENDS
from ..model import ModelSpec, input_size_of
from .common import UsageError, add_data_args, check_backend, check_device, positive_int


def add_evaluate(sub) -> None:
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
    add_data_args(evaluate, mean_default=None)
    evaluate.add_argument("--ten-crop", action="store_true", help="average over the paper's ten crops")
    evaluate.add_argument("--batch-size", type=positive_int, default=128)
    evaluate.add_argument("--json", action="store_true", help="print the result as one JSON object")
    evaluate.add_argument("--device", default="cpu")
    evaluate.add_argument("--backend", default=None, choices=BACKENDS,
                          help="LRN/pool backend (default: auto with --weights, else the checkpoint's)")  # fmt: skip


def cmd_evaluate(args) -> int:
    from ..data import load_datasets
    from ..metrics import evaluate

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
    from ..data import load_datasets
    from ..hub import get_weights
    from ..metrics import evaluate

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


def add_export_weights(sub) -> None:
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


def cmd_export_weights(args) -> int:
    from ..data import load_datasets
    from ..hub import WEIGHTS_DIR, export

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
