"""Conformance checks for LRN implementations: ``check_lrn``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from .. import reference
from ._harness import (
    LAYOUTS,
    LRN_SHAPES,
    STRONG,
    TOLERANCES,
    Case,
    Report,
    build_report,
    grad,
    gradcheck_case,
    make_input,
    make_text,
)


def check_lrn(fn: Callable, *, alpha_over_size: bool | None = None, device="cpu", only=None) -> Report:
    """Grade ``fn(x, size, alpha, beta, k, alpha_over_size=...)`` against the float64 LRN formula.

    ``alpha_over_size=None`` (the lab's signature) checks both conventions: the paper's alpha, and alpha / size
    (cuda-convnet, Caffe, ``F.local_response_norm``). ``True`` or ``False`` checks an implementation of that
    one convention, called as ``fn(x, size, alpha, beta, k)``. ``only`` names the checks to run (default all).
    Inputs are made on the CPU and moved to ``device``.
    """
    report = build_report("lrn", fn, lrn_checks(fn, alpha_over_size, device), only)
    _diagnose_alpha(report, fn, alpha_over_size, device)
    return report


def lrn_checks(fn: Callable, alpha_over_size: bool | None, device) -> dict[str, Callable[[], Iterator[Case]]]:
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
            make = make_text(shape, dtype, seed=i, layout=layout_text)
            x_in = transform(x.to(device))
            rounded = dtype in (torch.float16, torch.bfloat16)  # an exact kernel rounds once, at the store

            def ref(x=x_in, e=expected, dt=dtype, rounded=rounded):
                return e(x).to(dt) if rounded else e(x)

            yield Case(lambda f=run_fn, x=x_in, r=ref: (f(x), r()),
                        f"x = {make}\ny = {text}\ny_expected = kernels.reference.lrn_reference(x.double(), "
                        f"{size}, {'alpha / size' if over else 'alpha'}, beta, k)  # alpha, beta, k = "
                        f"{hyper['alpha']}, {hyper['beta']}, {hyper['k']}", TOLERANCES[dtype], dtype=dtype)  # fmt: skip

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

            make = make_text(shape, dtype, seed=i, layout=layout_text)
            yield Case(lambda f=run_fn, x=x, dy=dy, r=ref: (grad(f, x, dy), r()),
                        f"x = {make}.requires_grad_()\n"
                        f"dx, = torch.autograd.grad({text}, x, dy)  # dy = "
                        f"{make_text(tuple(x.shape), dtype, seed=100 + i, scale=1.0)}\n"
                        "dx_expected: the same through kernels.reference.lrn_reference(x.double(), ...)",
                        TOLERANCES[dtype], dtype=dtype)  # fmt: skip

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
                return grad(f, x, dy), torch.autograd.grad(e(x64), x64, torch.ones_like(x64))[0]

            yield Case(run, f"x = torch.ones(1, 9, 1, 2); x[0, 4, 0, 0] = {bad}\ny = {text}"
                             f"{'  # and its gradient for dy = 1' if backward else ''}\n"
                             "NaN and inf must appear exactly where the float64 reference has them",
                        TOLERANCES[torch.float32], nan_locality=True, dtype=torch.float32)  # fmt: skip

    def gradcheck_cases():
        for size, hyper in ((3, STRONG), (4, dict(alpha=1e-4, beta=0.75, k=2.0))):
            run_fn, text, _ = call(conventions[0], size, hyper)
            x = make_input((1, 6, 2, 2), torch.float64, scale=2.0).to(device)
            yield gradcheck_case(run_fn, x, text, make_text((1, 6, 2, 2), torch.float64, scale=2.0))

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
