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
import os
import signal
import sys

from ._allocator import keep_freed_memory
from .cli.common import USER_ERRORS, Parser, describe
from .cli.evaluate import add_evaluate, add_export_weights, cmd_evaluate, cmd_export_weights
from .cli.experiments import add_lrn_overlap, add_relu_vs_tanh, cmd_lrn_overlap, cmd_relu_vs_tanh
from .cli.train import add_train, cmd_train


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m alexnet",
        description="AlexNet lab: train (the paper's recipe), evaluate a checkpoint or shipped weights, "
        "export-weights, relu-vs-tanh (Figure 1).",
        epilog="Run 'python -m alexnet COMMAND --help' for a command's options.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    for add in (add_train, add_evaluate, add_export_weights, add_relu_vs_tanh, add_lrn_overlap):
        add(sub)
    return parser


COMMANDS = {
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "export-weights": cmd_export_weights,
    "relu-vs-tanh": cmd_relu_vs_tanh,
    "lrn-overlap": cmd_lrn_overlap,
}
TRAINING_COMMANDS = ("train", "relu-vs-tanh", "lrn-overlap")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
    if "alexnet.parallel" in sys.modules and sys.modules["alexnet.parallel"].joined():
        sys.modules["alexnet.parallel"].exit_rank(code)  # a torchrun rank: see exit_rank for why
    sys.exit(code)
