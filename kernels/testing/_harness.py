"""The machinery every check shares: inputs, the comparison, the report and its reproducers."""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import torch

TOLERANCES = {
    torch.float64: dict(rtol=1e-7, atol=1e-10),
    torch.float32: dict(rtol=1e-5, atol=1e-6),
    torch.float16: dict(rtol=1e-3, atol=1e-3),
    torch.bfloat16: dict(rtol=1.6e-2, atol=1e-2),
}
# Unit-scale inputs barely feel the paper's alpha = 1e-4; this one makes every term of the formula count.
STRONG = dict(alpha=0.05, beta=0.75, k=1.0)
# Shapes that break things: one element, one channel, C smaller than the window, primes, a single row or column.
LRN_SHAPES = [(1, 1, 1, 1), (2, 3, 5, 7), (2, 7, 5, 3), (1, 13, 1, 11), (1, 17, 6, 1), (2, 5, 9)]
POOL_SHAPES = [(1, 1, 3, 3), (2, 3, 7, 9), (1, 5, 8, 8), (2, 2, 11, 6)]


class NotAttempted(NotImplementedError):
    """Raised by an implementation that has nothing to grade yet (an exercise's untouched skeleton)."""


def make_input(shape, dtype=torch.float32, seed: int = 0, scale: float = 3.0, kind: str = "normal") -> torch.Tensor:
    """The checks' inputs, reproducible anywhere: ``kind`` is "normal" (scale * N(0, 1)), "ties" (integers 0-2,
    so pooling windows hold equal maxima) or "distinct" (a shuffled ramp: no two values equal)."""
    gen = torch.Generator().manual_seed(seed)
    if kind == "ties":
        t = torch.randint(0, 3, shape, generator=gen).double()
    elif kind == "distinct":
        t = torch.randperm(math.prod(shape), generator=gen).double().view(shape) / max(1, math.prod(shape)) * scale
    else:
        t = scale * torch.randn(shape, generator=gen, dtype=torch.float64)
    return t.to(dtype)


# ------------------------------------------------------------------------------------------------- the report


@dataclass
class CheckResult:
    """One check's verdict over all its cases."""

    check: str
    passed: bool
    max_error: float | None  # the largest |actual - expected| over the cases (None: nothing was compared)
    tolerance: str
    reproducer: str = ""  # three lines that rerun the first failing case
    detail: str = ""  # what went wrong, in words


@dataclass
class Report:
    """What ``check_*`` returns: prints as a short table, then the first failure of each failing check."""

    op: str
    impl: str
    results: list[CheckResult] = field(default_factory=list)
    not_attempted: str = ""  # the implementation raised NotAttempted: its message

    @property
    def attempted(self) -> bool:
        return not self.not_attempted

    @property
    def passed(self) -> bool:
        return self.attempted and bool(self.results) and all(r.passed for r in self.results)

    @property
    def failed(self) -> list[str]:
        return [r.check for r in self.results if not r.passed]

    def __str__(self) -> str:
        if not self.attempted:
            return f"{self.op} ({self.impl}): not attempted yet: {self.not_attempted}"
        width = max(len(r.check) for r in self.results)
        lines = [f"{self.op} ({self.impl}): {len(self.results) - len(self.failed)} of {len(self.results)} checks pass"]
        for r in self.results:
            error = "-" if r.max_error is None else f"{r.max_error:.1e}"
            lines.append(f"  {r.check:<{width}}  {'pass' if r.passed else 'FAIL'}  {error:>8}  {r.tolerance}")
        for r in self.results:
            if not r.passed:
                lines.append(f"\nFAIL {r.check}: {r.detail}")
                lines += ["    " + line for line in r.reproducer.splitlines()]
        return "\n".join(lines)

    __repr__ = __str__


class Case(NamedTuple):
    """One comparison: ``run()`` -> (actual, expected float64), and three lines a reader can rerun."""

    run: Callable[[], tuple[torch.Tensor, torch.Tensor] | None]
    reproducer: str
    tolerance: dict
    nan_locality: bool = False  # compare where NaN and inf appear, not only the finite values
    dtype: torch.dtype | None = None  # the dtype the result must have (the input's; int64 for indices)


def tolerance_text(tol: dict) -> str:
    return f"atol {tol['atol']:.0e} + rtol {tol['rtol']:.0e}"


def compare(actual, expected: torch.Tensor, case: Case) -> tuple[bool, float | None, str]:
    """(passed, max |actual - expected| over the finite values, what went wrong)."""
    tol, nan_locality = case.tolerance, case.nan_locality
    if not isinstance(actual, torch.Tensor):
        return False, None, f"returned {type(actual).__name__}, expected a tensor"
    if tuple(actual.shape) != tuple(expected.shape):
        return False, None, f"returned shape {tuple(actual.shape)}, expected {tuple(expected.shape)}"
    if case.dtype is not None and actual.dtype != case.dtype:
        return False, None, f"returned {actual.dtype}, expected {case.dtype}"
    got, want = actual.detach().cpu().to(torch.float64), expected.detach().cpu().to(torch.float64)
    bad_where = ~torch.isfinite(want)
    if nan_locality and not torch.equal(got.isnan(), want.isnan()):
        wrong = (got.isnan() != want.isnan()).nonzero()[0].tolist()
        return False, None, f"NaN where the reference has none, or the reverse (first at index {wrong})"
    if not torch.equal(got[bad_where & ~want.isnan()], want[bad_where & ~want.isnan()]):
        return False, None, "infinities differ from the reference's"
    finite = ~bad_where & ~got.isnan()
    if (~bad_where & got.isnan()).any():
        first = (~bad_where & got.isnan()).nonzero()[0].tolist()
        return False, None, f"NaN where the reference is finite (first at index {first})"
    diff = (got[finite] - want[finite]).abs()
    max_error = diff.max().item() if diff.numel() else 0.0
    limit = tol["atol"] + tol["rtol"] * want[finite].abs()
    if (diff > limit).any():
        first = finite.nonzero()[(diff > limit).nonzero()[0, 0]].tolist()
        return False, max_error, f"outside the tolerance (first at index {first}: {got[tuple(first)]:.6g} vs " \
                                 f"{want[tuple(first)]:.6g})"  # fmt: skip
    return True, max_error, ""


def first_line(err: Exception) -> str:
    """The first non-empty line of an error's message (compiler errors run to pages)."""
    lines = [line for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else ""


def run_check(name: str, cases: Iterator[Case]) -> CheckResult:
    """Run every case; the check fails on the first bad one but reports the largest error over all."""
    worst, tolerance, failure = None, "", None
    for case in cases:
        tolerance = tolerance or tolerance_text(case.tolerance)
        try:
            with warnings.catch_warnings():  # NumPy, under Triton's interpreter, warns on the inf/NaN cases
                warnings.simplefilter("ignore", RuntimeWarning)
                result = case.run()
        except NotAttempted:
            raise
        except Exception as err:  # the implementation's error is this check's verdict
            ok, error, detail = False, None, f"raised {type(err).__name__}: {first_line(err)}"
        else:  # None: a check with nothing to measure (gradcheck) that did not raise
            ok, error, detail = (True, None, "") if result is None else compare(*result, case)
        if error is not None:
            worst = error if worst is None else max(worst, error)
        if not ok and failure is None:
            failure = (detail, case.reproducer)
    if failure is None:
        return CheckResult(name, True, worst, tolerance)
    return CheckResult(name, False, worst, tolerance, reproducer=failure[1], detail=failure[0])


def describe(fn) -> str:
    """A callable's name for a report: ``lrn``, ``lrn(backend='triton')`` for a partial, or its type's name."""
    if isinstance(fn, functools.partial):
        arguments = [repr(a) for a in fn.args] + [f"{key}={value!r}" for key, value in fn.keywords.items()]
        return f"{describe(fn.func)}({', '.join(arguments)})"
    return getattr(fn, "__qualname__", None) or type(fn).__name__


def build_report(op: str, fn: Callable, checks: dict[str, Callable[[], Iterator[Case]]], only) -> Report:
    report = Report(op, describe(fn))
    unknown = set(only or ()) - set(checks)
    if unknown:
        raise ValueError(f"only: unknown check(s) {sorted(unknown)}; the checks are {list(checks)}")
    try:
        for name, cases in checks.items():
            if only is None or name in only:
                report.results.append(run_check(name, cases()))
    except NotAttempted as err:
        report.not_attempted = str(err) or "the implementation has nothing to grade yet"
    return report


def grad(fn: Callable, x: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """d<fn(x), dy>/dx for a fresh leaf copy of x (any strides kept)."""
    x = x.detach().requires_grad_()
    y = fn(x)
    y = y[0] if isinstance(y, tuple) else y
    (dx,) = torch.autograd.grad(y, x, dy)
    return dx


def gradcheck_case(fn: Callable, x: torch.Tensor, call: str, make: str) -> Case:
    def run():
        torch.autograd.gradcheck(fn, (x.detach().requires_grad_(),))  # raises GradcheckError on a mismatch


    text = f"x = {make}.requires_grad_()\ntorch.autograd.gradcheck(lambda t: {call.replace('(x', '(t', 1)}, (x,))\n" \
           "# gradcheck compares the backward with finite differences of the forward"  # fmt: skip
    return Case(run, text, dict(atol=1e-5, rtol=1e-3))  # gradcheck's own defaults


def make_text(shape, dtype, seed=0, scale=3.0, kind="normal", layout="") -> str:
    extra = "".join([f", seed={seed}" if seed else "", f", scale={scale}" if scale != 3.0 else "",
                     f", kind={kind!r}" if kind != "normal" else ""])  # fmt: skip
    return f"kernels.testing.make_input({tuple(shape)}, torch.{str(dtype).split('.')[-1]}{extra}){layout}"


# Memory layouts other than contiguous: (transform, the same as code for a reproducer).
LAYOUTS = {
    "channels-last": (lambda t: t.contiguous(memory_format=torch.channels_last),
                      ".contiguous(memory_format=torch.channels_last)"),
    "transposed": (lambda t: t.transpose(2, 3).contiguous().transpose(2, 3),
                   ".transpose(2, 3).contiguous().transpose(2, 3)"),
    "strided": (lambda t: t[:, ::2, :, ::2], "[:, ::2, :, ::2]"),
}  # fmt: skip
