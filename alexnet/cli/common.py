"""What every command shares: one-line usage errors, argument types, and checks made before any work starts."""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import torch

from ..choices import MEANS


class UsageError(Exception):
    """A mistake in what the user asked for: reported as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (its default prints the whole usage block first) and no abbreviations: a
    mistyped ``--epoch`` is refused, not taken as ``--epochs``."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def number(kind, low: float, inclusive: bool, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not math.isfinite(value) or value < low or (value == low and not inclusive):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value

    return parse


positive_int = number(int, 0, False, "an integer >= 1")
nonnegative_int = number(int, 0, True, "an integer >= 0")
positive_float = number(float, 0.0, False, "a finite number > 0")
nonnegative_float = number(float, 0.0, True, "a finite number >= 0")


def add_data_args(parser: argparse.ArgumentParser, mean_default: str | None = "pixel") -> None:
    parser.add_argument(
        "--data",
        required=True,
        help="'cifar10', 'imagenette', or a folder/zip in image-folder layout (root/train/<class>/<image> and "
        "root/val/<class>/<image>, or root/<class>/<image>)",
    )
    parser.add_argument(
        "--mean",
        default=mean_default,
        choices=MEANS,
        help="mean to subtract: the training set's mean image (the paper, the default), its mean colour, "
        "ImageNet's, or none" + ("" if mean_default else "; default: what the checkpoint was trained with"),
    )
    parser.add_argument("--download", action="store_true", help="let torchvision download cifar10/imagenette")
    parser.add_argument("--workers", type=nonnegative_int, default=0, help="data-loading processes (0: this one)")


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
    from kernels._triton import HAS_TRITON, interpreter_enabled

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


# Errors that are the user's to fix (exit 2); anything else is one line too, with a pointer to --debug (exit 1).
USER_ERRORS = (UsageError, ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, PermissionError)


def describe(err: BaseException) -> str:
    """One line for an exception: OSError's own words (``no space left on device: path``), else its message."""
    if isinstance(err, OSError) and err.strerror:
        text = err.strerror[0].lower() + err.strerror[1:]
        return f"{text}: {err.filename}" if err.filename else text
    return " ".join(str(err).split()) or type(err).__name__
