"""Conformance checks for fused ReLU -> LRN -> max-pool implementations: ``check_relu_lrn_max_pool2d``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

from .. import reference
from ._harness import (
    LAYOUTS,
    POOL_SHAPES,
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


def check_relu_lrn_max_pool2d(fn: Callable, *, alpha_over_size: bool | None = None, device="cpu", only=None) -> Report:
    """Grade ``fn(x, size, alpha, beta, k, alpha_over_size=...)`` against max_pool2d(lrn(relu(x)), 3, 2) in float64.

    ``alpha_over_size`` as in :func:`check_lrn`.
    """
    return build_report("relu_lrn_max_pool2d", fn, fused_checks(fn, alpha_over_size, device), only)


def fused_checks(fn: Callable, alpha_over_size: bool | None, device) -> dict[str, Callable[[], Iterator[Case]]]:
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
            make = make_text(shape, dtype, seed=i, layout=layout_text)
            if not backward:
                yield Case(lambda f=run_fn, x=x, s=size, r=rounded: (f(x), expected(x, s, over).to(dtype) if r
                                                                      else expected(x, s, over)),
                            f"x = {make}\ny = {text}\n"
                            "y_expected = F.max_pool2d(kernels.reference.lrn_reference(x.double().relu(), ...), 3, 2)",
                            TOLERANCES[dtype], dtype=dtype)  # fmt: skip
                continue
            dy = make_input(tuple(expected(x, size, over).shape), dtype, seed=100 + i, scale=1.0).to(device)

            def ref(x=x, dy=dy, s=size, rounded=rounded):
                x64 = x.detach().cpu().double().requires_grad_()
                (dx,) = torch.autograd.grad(composite(x64, s, over), x64, dy.cpu().double())
                return dx.to(dtype) if rounded else dx

            yield Case(lambda f=run_fn, x=x, dy=dy, r=ref: (grad(f, x, dy), r()),
                        f"x = {make}.requires_grad_()\ndx, = torch.autograd.grad({text}, x, dy)\n"
                        "dx_expected: the same through the float64 composition of relu, lrn_reference, max_pool2d",
                        TOLERANCES[dtype], dtype=dtype)  # fmt: skip

    def gradcheck_cases():
        run_fn, text = call(3, conventions[0])
        # Distinct values (no pooling ties), some negative (ReLU's zeros); small, as gradcheck calls fn twice per input.
        x = make_input((1, 3, 3, 5), torch.float64, kind="distinct", scale=6.0).to(device) - 2.0
        yield gradcheck_case(run_fn, x, text, make_text((1, 3, 3, 5), torch.float64, scale=6.0, kind="distinct")
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
