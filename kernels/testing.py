"""Conformance checks for any LRN, max-pooling or fused ReLU -> LRN -> max-pool implementation.

The lab grades its own kernels with these checks (``tests/kernels/test_conformance.py``), and anyone can grade
theirs the same way::

    report = kernels.testing.check_lrn(my_lrn)
    print(report)            # one row per check: pass/FAIL, max error, tolerance; a reproducer per failure
    assert report.passed

Every check compares against an independent float64 oracle (``kernels.reference``: the formulas written out
literally, gradients by autograd), runs every case even after a failure, and never raises: an exception from
the implementation is a failed check with its message. :class:`NotAttempted` marks the whole report "not
attempted" (the workshop's untouched skeletons raise it).

The callables take the lab's signatures (keyword arguments as named here):

* ``lrn(x, size, alpha, beta, k, alpha_over_size=False) -> y``, x: (N, C, H, W) or (N, C, L)
* ``max_pool2d(x, kernel_size, stride, return_indices=False) -> y`` or ``(y, indices)``, indices ``h * W + w``
* ``relu_lrn_max_pool2d(x, size, alpha, beta, k, alpha_over_size=False) -> y``, pooling 3x3 with stride 2
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F

from . import reference

__all__ = ["NotAttempted", "check_lrn", "check_max_pool2d", "check_relu_lrn_max_pool2d", "check_names", "Report",
           "CheckResult", "make_input"]  # fmt: skip

# Output rounding dominates for half types: fp16 has an 11-bit significand, bf16 an 8-bit one.
TOLERANCES = {
    torch.float64: dict(rtol=1e-7, atol=1e-10),
    torch.float32: dict(rtol=1e-5, atol=1e-6),
    torch.float16: dict(rtol=1e-3, atol=1e-3),
    torch.bfloat16: dict(rtol=1.6e-2, atol=1e-2),
}
DTYPE_NAMES = {torch.float64: "fp64", torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}
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


class _Case(NamedTuple):
    """One comparison: ``run()`` -> (actual, expected float64), and three lines a reader can rerun."""

    run: Callable[[], tuple[torch.Tensor, torch.Tensor]]
    reproducer: str
    tolerance: dict
    nan_locality: bool = False  # compare where NaN and inf appear, not only the finite values


def _tolerance_text(tol: dict) -> str:
    return f"atol {tol['atol']:.0e} + rtol {tol['rtol']:.0e}"


def _compare(actual, expected: torch.Tensor, tol: dict, nan_locality: bool) -> tuple[bool, float | None, str]:
    if not isinstance(actual, torch.Tensor):
        return False, None, f"returned {type(actual).__name__}, expected a tensor"
    if tuple(actual.shape) != tuple(expected.shape):
        return False, None, f"returned shape {tuple(actual.shape)}, expected {tuple(expected.shape)}"
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


def _run_check(name: str, cases: Iterator[_Case]) -> CheckResult:
    """Run every case; the check fails on the first bad one but reports the largest error over all."""
    worst, tolerance, failure = None, "", None
    for case in cases:
        tolerance = tolerance or _tolerance_text(case.tolerance)
        try:
            with warnings.catch_warnings():  # NumPy, under Triton's interpreter, warns on the inf/NaN cases
                warnings.simplefilter("ignore", RuntimeWarning)
                actual, expected = case.run()
        except NotAttempted:
            raise
        except Exception as err:  # the implementation's error is this check's verdict
            ok, error, detail = False, None, f"raised {type(err).__name__}: {first_line(err)}"
        else:
            ok, error, detail = _compare(actual, expected, case.tolerance, case.nan_locality)
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


def _report(op: str, fn: Callable, checks: dict[str, Callable[[], Iterator[_Case]]], only) -> Report:
    report = Report(op, describe(fn))
    unknown = set(only or ()) - set(checks)
    if unknown:
        raise ValueError(f"only: unknown check(s) {sorted(unknown)}; the checks are {list(checks)}")
    try:
        for name, cases in checks.items():
            if only is None or name in only:
                report.results.append(_run_check(name, cases()))
    except NotAttempted as err:
        report.not_attempted = str(err) or "the implementation has nothing to grade yet"
    return report


def _grad(fn: Callable, x: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """d<fn(x), dy>/dx for a fresh leaf copy of x (any strides kept)."""
    x = x.detach().requires_grad_()
    y = fn(x)
    y = y[0] if isinstance(y, tuple) else y
    (dx,) = torch.autograd.grad(y, x, dy)
    return dx


def _gradcheck_case(fn: Callable, x: torch.Tensor, call: str, make: str) -> _Case:
    def run():
        torch.autograd.gradcheck(fn, (x.detach().requires_grad_(),))  # raises GradcheckError on a mismatch
        return torch.zeros(()), torch.zeros(())

    text = f"x = {make}.requires_grad_()\ntorch.autograd.gradcheck(lambda t: {call.replace('(x', '(t', 1)}, (x,))\n" \
           "# gradcheck compares the backward with finite differences of the forward"  # fmt: skip
    return _Case(run, text, dict(atol=1e-5, rtol=1e-3))


def _make_text(shape, dtype, seed=0, scale=3.0, kind="normal", layout="") -> str:
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


# ------------------------------------------------------------------------------------------------------ LRN


def check_lrn(fn: Callable, *, alpha_over_size: bool | None = None, device="cpu", only=None) -> Report:
    """Grade ``fn(x, size, alpha, beta, k, alpha_over_size=...)`` against the float64 LRN formula.

    ``alpha_over_size=None`` (the lab's signature) checks both conventions: the paper's alpha, and alpha / size
    (cuda-convnet, Caffe, ``F.local_response_norm``). ``True`` or ``False`` checks an implementation of that
    one convention, called as ``fn(x, size, alpha, beta, k)``. ``only`` names the checks to run (default all).
    Inputs are made on the CPU and moved to ``device``.
    """
    report = _report("lrn", fn, _lrn_checks(fn, alpha_over_size, device), only)
    _diagnose_alpha(report, fn, alpha_over_size, device)
    return report


def _lrn_checks(fn: Callable, alpha_over_size: bool | None, device) -> dict[str, Callable[[], Iterator[_Case]]]:
    conventions = [False, True] if alpha_over_size is None else [alpha_over_size]

    def call(over: bool, size: int, hyper: dict) -> tuple[Callable, str, Callable]:
        kw = {} if alpha_over_size is not None else dict(alpha_over_size=over)
        args = f"{size}, {hyper['alpha']}, {hyper['beta']}, {hyper['k']}"
        text = f"fn(x, {args}{', alpha_over_size=True' if kw.get('alpha_over_size') else ''})"
        alpha = hyper["alpha"] / size if over else hyper["alpha"]

        def expected(x):  # differentiable: the backward checks take its gradient
            return reference.lrn_reference(x.cpu().double(), size, alpha, hyper["beta"], hyper["k"])

        return (lambda x: fn(x, size, hyper["alpha"], hyper["beta"], hyper["k"], **kw)), text, expected

    def forward_cases(dtype, over, shapes=LRN_SHAPES, sizes=(1, 2, 5), layout=None, hyper=STRONG):
        for i, shape in enumerate(shapes):
            size = sizes[i % len(sizes)]
            run_fn, text, expected = call(over, size, hyper)
            x = make_input(shape, dtype, seed=i)
            transform, layout_text = LAYOUTS[layout] if layout else (lambda t: t, "")
            make = _make_text(shape, dtype, seed=i, layout=layout_text)
            x_in = transform(x.to(device))
            rounded = dtype in (torch.float16, torch.bfloat16)  # an exact kernel rounds once, at the store

            def ref(x=x_in, e=expected, dt=dtype, rounded=rounded):
                return e(x).to(dt) if rounded else e(x)

            yield _Case(lambda f=run_fn, x=x_in, r=ref: (f(x), r()),
                        f"x = {make}\ny = {text}\ny_expected = kernels.reference.lrn_reference(x.double(), "
                        f"{size}, {'alpha / size' if over else 'alpha'}, beta, k)  # alpha, beta, k = "
                        f"{hyper['alpha']}, {hyper['beta']}, {hyper['k']}", TOLERANCES[dtype])  # fmt: skip

    def backward_cases(dtype, over, shapes=LRN_SHAPES, sizes=(1, 2, 5), layout=None, hyper=STRONG):
        for i, shape in enumerate(shapes):
            size = sizes[i % len(sizes)]
            run_fn, text, expected = call(over, size, hyper)
            transform, layout_text = LAYOUTS[layout] if layout else (lambda t: t, "")
            x = transform(make_input(shape, dtype, seed=i).to(device))
            dy = make_input(tuple(x.shape), dtype, seed=100 + i, scale=1.0).to(device)

            def ref(x=x, dy=dy, e=expected, dt=dtype):
                x64 = x.detach().cpu().double().requires_grad_()
                (dx,) = torch.autograd.grad(e(x64), x64, dy.cpu().double())
                return dx.to(dt) if dt in (torch.float16, torch.bfloat16) else dx

            make = _make_text(shape, dtype, seed=i, layout=layout_text)
            yield _Case(lambda f=run_fn, x=x, dy=dy, r=ref: (_grad(f, x, dy), r()),
                        f"x = {make}.requires_grad_()\n"
                        f"dx, = torch.autograd.grad({text}, x, dy)  # dy = "
                        f"{_make_text(tuple(x.shape), dtype, seed=100 + i, scale=1.0)}\n"
                        "dx_expected: the same through kernels.reference.lrn_reference(x.double(), ...)",
                        TOLERANCES[dtype])  # fmt: skip

    def nonfinite_cases(backward: bool):
        for bad in (float("nan"), float("inf")):
            values = torch.ones(1, 9, 1, 2, dtype=torch.float64)
            values[0, 4, 0, 0] = bad  # one bad value in channel 4 at one pixel; the other pixel stays finite
            run_fn, text, expected = call(conventions[0], 3, dict(alpha=1.0, beta=0.75, k=1.0))
            x = values.float().to(device)
            dy = torch.ones_like(x)
            def run(f=run_fn, x=x, dy=dy, e=expected, backward=backward):
                if not backward:
                    return f(x), e(x)
                x64 = x.detach().cpu().double().requires_grad_()
                return _grad(f, x, dy), torch.autograd.grad(e(x64), x64, torch.ones_like(x64))[0]

            yield _Case(run, f"x = torch.ones(1, 9, 1, 2); x[0, 4, 0, 0] = {bad}\ny = {text}"
                             f"{'  # and its gradient for dy = 1' if backward else ''}\n"
                             "NaN and inf must appear exactly where the float64 reference has them",
                        TOLERANCES[torch.float32], nan_locality=True)  # fmt: skip

    def gradcheck_cases():
        for size, hyper in ((3, STRONG), (4, dict(alpha=1e-4, beta=0.75, k=2.0))):
            run_fn, text, _ = call(conventions[0], size, hyper)
            x = make_input((1, 6, 2, 2), torch.float64, scale=2.0).to(device)
            yield _gradcheck_case(run_fn, x, text, _make_text((1, 6, 2, 2), torch.float64, scale=2.0))

    main = conventions[0]
    checks = {
        "forward fp64": lambda: forward_cases(torch.float64, main),
        "backward fp64": lambda: backward_cases(torch.float64, main),
    }
    if len(conventions) == 2:
        checks["forward, alpha / size"] = lambda: forward_cases(torch.float64, True)
        checks["backward, alpha / size"] = lambda: backward_cases(torch.float64, True)
    checks.update({
        "C smaller than the window": lambda: forward_cases(
            torch.float64, main, [(2, 1, 3, 3), (2, 2, 3, 3), (1, 4, 2, 5)], (5, 6, 9)),
        "forward fp32": lambda: forward_cases(torch.float32, main),
        "backward fp32": lambda: backward_cases(torch.float32, main),
        "forward fp16": lambda: forward_cases(torch.float16, main, LRN_SHAPES[1:3]),
        "backward fp16": lambda: backward_cases(torch.float16, main, LRN_SHAPES[1:3]),
        "forward bf16": lambda: forward_cases(torch.bfloat16, main, LRN_SHAPES[1:3]),
        "backward bf16": lambda: backward_cases(torch.bfloat16, main, LRN_SHAPES[1:3]),
        "forward, strided and channels-last": lambda: (case for layout in LAYOUTS for case in forward_cases(
            torch.float32, main, [(2, 8, 5, 6)], (5,), layout)),
        "backward, strided and channels-last": lambda: (case for layout in LAYOUTS for case in backward_cases(
            torch.float32, main, [(2, 8, 5, 6)], (5,), layout)),
        "forward, inf/NaN stay in their windows": lambda: nonfinite_cases(backward=False),
        "backward, inf/NaN stay in their windows": lambda: nonfinite_cases(backward=True),
        "gradcheck": gradcheck_cases,
    })  # fmt: skip
    return checks


def _diagnose_alpha(report: Report, fn: Callable, alpha_over_size: bool | None, device) -> None:
    """Say so when a failing forward is the other alpha convention: the most common LRN mismatch."""
    first = next((r for r in report.results if r.check == "forward fp64"), None)
    if first is None or first.passed:
        return
    x = make_input((2, 7, 3, 3), torch.float64).to(device)
    kw = {} if alpha_over_size is not None else dict(alpha_over_size=False)
    over = bool(alpha_over_size)
    try:
        y = fn(x, 5, STRONG["alpha"], STRONG["beta"], STRONG["k"], **kw).detach().cpu()
    except Exception:
        return
    other = STRONG["alpha"] * 5 if over else STRONG["alpha"] / 5
    other_convention = reference.lrn_reference(x.cpu(), 5, other, STRONG["beta"], STRONG["k"])
    if isinstance(y, torch.Tensor) and y.shape == x.shape and torch.allclose(y.double(), other_convention):
        first.detail += (" -- it matches the other convention, alpha " + ("times" if over else "divided by") +
                         " size: " + ("check_lrn(fn, alpha_over_size=True) checks that one" if not over
                                      else "check_lrn(fn, alpha_over_size=False) checks that one"))  # fmt: skip


# -------------------------------------------------------------------------------------------------- pooling


def _pool_expected(x: torch.Tensor, kernel: int, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    height, width = x.shape[-2:]
    out = ((height - kernel) // stride + 1, (width - kernel) // stride + 1)
    return reference.max_pool2d_reference(x.detach().cpu(), (kernel,) * 2, (stride,) * 2, (0, 0), (1, 1), out)


def check_max_pool2d(fn: Callable, *, device="cpu", only=None) -> Report:
    """Grade ``fn(x, kernel_size, stride, return_indices=...)`` against float64 max pooling (no padding).

    Ties go to the first maximum in row-major order of the window, as in PyTorch, and only it gets the gradient;
    a NaN in a window wins it.
    """
    return _report("max_pool2d", fn, _max_pool2d_checks(fn, device), only)


def _max_pool2d_checks(fn: Callable, device) -> dict[str, Callable[[], Iterator[_Case]]]:
    geometries = [(3, 2), (2, 2), (3, 3)]

    def pool(kernel, stride, indices=False):
        return lambda x: fn(x, kernel, stride, return_indices=indices) if indices else fn(x, kernel, stride)

    def forward_cases(dtype, shapes=POOL_SHAPES, kind="normal", layout=None, indices=False):
        for i, shape in enumerate(shapes):
            kernel, stride = geometries[i % len(geometries)]
            if shape[-1] < kernel or shape[-2] < kernel:
                kernel, stride = min(shape[-2:]), 1
            transform, layout_text = LAYOUTS[layout] if layout else (lambda t: t, "")
            x = transform(make_input(shape, dtype, seed=i, kind=kind).to(device))
            which = 1 if indices else 0

            def run(x=x, k=kernel, s=stride, which=which):
                out = pool(k, s, indices)(x)
                if indices and not (isinstance(out, tuple) and len(out) == 2):
                    raise TypeError("with return_indices=True it must return (values, indices)")
                return out[which] if indices else out, _pool_expected(x.double(), k, s)[which]

            call = f"fn(x, {kernel}, {stride}{', return_indices=True' if indices else ''})"
            yield _Case(run, f"x = {_make_text(shape, dtype, seed=i, kind=kind, layout=layout_text)}\n"
                             f"{'y, indices' if indices else 'y'} = {call}\n"
                             f"expected = kernels.reference.max_pool2d_reference(x, ({kernel}, {kernel}), "
                             f"({stride}, {stride}), (0, 0), (1, 1), out_size)",
                        dict(atol=0.0, rtol=0.0), nan_locality=True)  # fmt: skip

    def backward_cases(dtype, shapes=POOL_SHAPES, kind="normal", layout=None):
        for i, shape in enumerate(shapes):
            kernel, stride = geometries[i % len(geometries)]
            if shape[-1] < kernel or shape[-2] < kernel:
                kernel, stride = min(shape[-2:]), 1
            transform, layout_text = LAYOUTS[layout] if layout else (lambda t: t, "")
            x = transform(make_input(shape, dtype, seed=i, kind=kind).to(device))
            values, where = _pool_expected(x.double(), kernel, stride)
            dy = make_input(tuple(values.shape), dtype, seed=100 + i, scale=1.0).to(device)

            def ref(x=x, dy=dy, where=where):
                return reference.max_pool2d_backward_reference(dy.cpu().double(), where, tuple(x.shape))

            yield _Case(lambda x=x, dy=dy, k=kernel, s=stride, r=ref: (_grad(pool(k, s), x, dy), r()),
                        f"x = {_make_text(shape, dtype, seed=i, kind=kind, layout=layout_text)}.requires_grad_()\n"
                        f"dx, = torch.autograd.grad(fn(x, {kernel}, {stride}), x, dy)  # dy = "
                        f"{_make_text(tuple(values.shape), dtype, seed=100 + i, scale=1.0)}\n"
                        "dx_expected: dy added at each window's first maximum (kernels.reference)",
                        TOLERANCES[dtype] if dtype != torch.float64 else dict(atol=1e-12, rtol=0.0))  # fmt: skip

    def nan_cases():
        x = make_input((1, 2, 5, 5), torch.float32).to(device)
        x[0, 0, 1, 1] = float("nan")
        yield _Case(lambda x=x: (fn(x, 3, 2), _pool_expected(x.double(), 3, 2)[0]),
                    "x = kernels.testing.make_input((1, 2, 5, 5)); x[0, 0, 1, 1] = float('nan')\ny = fn(x, 3, 2)\n"
                    "a window that holds a NaN gives NaN, as in PyTorch", dict(atol=0.0, rtol=0.0), nan_locality=True)

    def gradcheck_cases():
        x = make_input((1, 2, 7, 7), torch.float64, kind="distinct").to(device)
        yield _gradcheck_case(pool(3, 2), x, "fn(x, 3, 2)", _make_text((1, 2, 7, 7), torch.float64, kind="distinct"))

    half = POOL_SHAPES[1:3]
    checks = {
        "forward fp64": lambda: forward_cases(torch.float64),
        "indices": lambda: forward_cases(torch.float64, indices=True),
        "forward, ties": lambda: forward_cases(torch.float32, kind="ties"),
        "indices, ties: the first maximum": lambda: forward_cases(torch.float32, kind="ties", indices=True),
        "backward fp64": lambda: backward_cases(torch.float64),
        "backward, ties: only the first maximum": lambda: backward_cases(torch.float32, kind="ties"),
        "forward fp32": lambda: forward_cases(torch.float32),
        "backward fp32": lambda: backward_cases(torch.float32),
        "forward fp16": lambda: forward_cases(torch.float16, half),
        "backward fp16": lambda: backward_cases(torch.float16, half),
        "forward bf16": lambda: forward_cases(torch.bfloat16, half),
        "backward bf16": lambda: backward_cases(torch.bfloat16, half),
        "forward, strided and channels-last": lambda: (c for layout in LAYOUTS for c in forward_cases(
            torch.float32, [(2, 4, 9, 10)], layout=layout)),
        "backward, strided and channels-last": lambda: (c for layout in LAYOUTS for c in backward_cases(
            torch.float32, [(2, 4, 9, 10)], layout=layout)),
        "forward, NaN wins its windows": nan_cases,
        "gradcheck": gradcheck_cases,
    }  # fmt: skip
    return checks


# ---------------------------------------------------------------------------------------------------- fused


def check_relu_lrn_max_pool2d(fn: Callable, *, alpha_over_size: bool | None = None, device="cpu", only=None) -> Report:
    """Grade ``fn(x, size, alpha, beta, k, alpha_over_size=...)`` against max_pool2d(lrn(relu(x)), 3, 2) in float64.

    ``alpha_over_size`` as in :func:`check_lrn`.
    """
    return _report("relu_lrn_max_pool2d", fn, _fused_checks(fn, alpha_over_size, device), only)


def _fused_checks(fn: Callable, alpha_over_size: bool | None, device) -> dict[str, Callable[[], Iterator[_Case]]]:
    conventions = [False, True] if alpha_over_size is None else [alpha_over_size]

    def expected(x, size, over, hyper=STRONG):
        alpha = hyper["alpha"] / size if over else hyper["alpha"]
        b = reference.lrn_reference(torch.relu(x.detach().cpu().double()), size, alpha, hyper["beta"], hyper["k"])
        return F.max_pool2d(b, 3, 2)

    def composite(x, size, over):
        alpha = STRONG["alpha"] / size if over else STRONG["alpha"]
        return F.max_pool2d(reference.lrn_reference(torch.relu(x), size, alpha, STRONG["beta"], STRONG["k"]), 3, 2)

    def call(size, over):
        kw = {} if alpha_over_size is not None else dict(alpha_over_size=over)
        text = f"fn(x, {size}, {STRONG['alpha']}, {STRONG['beta']}, {STRONG['k']}" \
               f"{', alpha_over_size=True' if kw.get('alpha_over_size') else ''})"  # fmt: skip
        return (lambda x: fn(x, size, STRONG["alpha"], STRONG["beta"], STRONG["k"], **kw)), text

    def cases(dtype, over, backward, shapes=POOL_SHAPES, layout=None):
        for i, shape in enumerate(shapes):
            size = (1, 2, 5)[i % 3]
            run_fn, text = call(size, over)
            transform, layout_text = LAYOUTS[layout] if layout else (lambda t: t, "")
            x = transform(make_input(shape, dtype, seed=i).to(device))
            rounded = dtype in (torch.float16, torch.bfloat16)
            make = _make_text(shape, dtype, seed=i, layout=layout_text)
            if not backward:
                yield _Case(lambda f=run_fn, x=x, s=size, r=rounded: (f(x), expected(x, s, over).to(dtype) if r
                                                                      else expected(x, s, over)),
                            f"x = {make}\ny = {text}\n"
                            "y_expected = F.max_pool2d(kernels.reference.lrn_reference(x.double().relu(), ...), 3, 2)",
                            TOLERANCES[dtype])  # fmt: skip
                continue
            dy = make_input(tuple(expected(x, size, over).shape), dtype, seed=100 + i, scale=1.0).to(device)

            def ref(x=x, dy=dy, s=size, rounded=rounded):
                x64 = x.detach().cpu().double().requires_grad_()
                (dx,) = torch.autograd.grad(composite(x64, s, over), x64, dy.cpu().double())
                return dx.to(dtype) if rounded else dx

            yield _Case(lambda f=run_fn, x=x, dy=dy, r=ref: (_grad(f, x, dy), r()),
                        f"x = {make}.requires_grad_()\ndx, = torch.autograd.grad({text}, x, dy)\n"
                        "dx_expected: the same through the float64 composition of relu, lrn_reference, max_pool2d",
                        TOLERANCES[dtype])  # fmt: skip

    def gradcheck_cases():
        run_fn, text = call(3, conventions[0])
        # Distinct values (no pooling ties), some negative (ReLU's zeros); small, as gradcheck calls fn twice per input.
        x = make_input((1, 3, 3, 5), torch.float64, kind="distinct", scale=6.0).to(device) - 2.0
        yield _gradcheck_case(run_fn, x, text, _make_text((1, 3, 3, 5), torch.float64, scale=6.0, kind="distinct")
                              + " - 2.0")  # fmt: skip

    main = conventions[0]
    half = POOL_SHAPES[1:3]
    checks = {
        "forward fp64": lambda: cases(torch.float64, main, False),
        "backward fp64": lambda: cases(torch.float64, main, True),
    }
    if len(conventions) == 2:
        checks["forward, alpha / size"] = lambda: cases(torch.float64, True, False)
        checks["backward, alpha / size"] = lambda: cases(torch.float64, True, True)
    checks.update({
        "forward fp32": lambda: cases(torch.float32, main, False),
        "backward fp32": lambda: cases(torch.float32, main, True),
        "forward fp16": lambda: cases(torch.float16, main, False, half),
        "backward fp16": lambda: cases(torch.float16, main, True, half),
        "forward bf16": lambda: cases(torch.bfloat16, main, False, half),
        "backward bf16": lambda: cases(torch.bfloat16, main, True, half),
        "forward, strided and channels-last": lambda: (c for layout in LAYOUTS for c in cases(
            torch.float32, main, False, [(2, 6, 9, 10)], layout)),
        "backward, strided and channels-last": lambda: (c for layout in LAYOUTS for c in cases(
            torch.float32, main, True, [(2, 6, 9, 10)], layout)),
        "gradcheck": gradcheck_cases,
    })  # fmt: skip
    return checks


def check_names(op: str, alpha_over_size: bool | None = None) -> list[str]:
    """The names of an op's checks, in the order they run (for parametrizing tests and ``only=``)."""
    if op == "max_pool2d":
        return list(_max_pool2d_checks(None, "cpu"))
    if op not in ("lrn", "relu_lrn_max_pool2d"):
        raise ValueError(f"op must be 'lrn', 'max_pool2d' or 'relu_lrn_max_pool2d', got {op!r}")
    builder = _lrn_checks if op == "lrn" else _fused_checks
    return list(builder(None, alpha_over_size, "cpu"))
