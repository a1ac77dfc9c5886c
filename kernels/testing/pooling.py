"""Conformance checks for max-pooling implementations: ``check_max_pool2d``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from .. import reference
from ._harness import (
    LAYOUTS,
    POOL_SHAPES,
    TOLERANCES,
    Case,
    Report,
    build_report,
    grad,
    gradcheck_case,
    make_input,
    make_text,
)


def _pool_expected(x: torch.Tensor, kernel: int, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    height, width = x.shape[-2:]
    out = ((height - kernel) // stride + 1, (width - kernel) // stride + 1)
    return reference.max_pool2d_reference(x.detach().cpu(), (kernel,) * 2, (stride,) * 2, (0, 0), (1, 1), out)


def check_max_pool2d(fn: Callable, *, device="cpu", only=None) -> Report:
    """Grade ``fn(x, kernel_size, stride, return_indices=...)`` against float64 max pooling (no padding).

    Ties go to the first maximum in row-major order of the window, as in PyTorch, and only it gets the gradient;
    a NaN in a window wins it.
    """
    return build_report("max_pool2d", fn, max_pool2d_checks(fn, device), only)


def max_pool2d_checks(fn: Callable, device) -> dict[str, Callable[[], Iterator[Case]]]:
    geometries = [(3, 2), (2, 2), (3, 3)]

    def pool(kernel, stride, indices=False):
        return lambda x: fn(x, kernel, stride, return_indices=indices) if indices else fn(x, kernel, stride)

    def inputs(dtype, shapes, kind, layout):
        """(seed, shape, window, stride, x, code that makes x) per shape, cycling through the geometries."""
        for i, shape in enumerate(shapes):
            kernel, stride = geometries[i % len(geometries)]
            if shape[-1] < kernel or shape[-2] < kernel:  # a plane smaller than the window: one window
                kernel, stride = min(shape[-2:]), 1
            transform, layout_text = LAYOUTS[layout] if layout else (lambda t: t, "")
            x = transform(make_input(shape, dtype, seed=i, kind=kind).to(device))
            yield i, shape, kernel, stride, x, make_text(shape, dtype, seed=i, kind=kind, layout=layout_text)

    def forward_cases(dtype, shapes=POOL_SHAPES, kind="normal", layout=None, indices=False):
        for _, _, kernel, stride, x, make in inputs(dtype, shapes, kind, layout):
            which = 1 if indices else 0

            def run(x=x, k=kernel, s=stride, which=which):
                out = pool(k, s, indices)(x)
                if indices and not (isinstance(out, tuple) and len(out) == 2):
                    raise TypeError("with return_indices=True it must return (values, indices)")
                return out[which] if indices else out, _pool_expected(x.double(), k, s)[which]

            call = f"fn(x, {kernel}, {stride}{', return_indices=True' if indices else ''})"
            yield Case(run, f"x = {make}\n"
                             f"{'y, indices' if indices else 'y'} = {call}\n"
                             f"expected = kernels.reference.max_pool2d_reference(x, ({kernel}, {kernel}), "
                             f"({stride}, {stride}), (0, 0), (1, 1), out_size)",
                        dict(atol=0.0, rtol=0.0), nan_locality=True,
                        dtype=torch.int64 if indices else dtype)  # fmt: skip

    def backward_cases(dtype, shapes=POOL_SHAPES, kind="normal", layout=None):
        for i, _, kernel, stride, x, make in inputs(dtype, shapes, kind, layout):
            values, where = _pool_expected(x.double(), kernel, stride)
            dy = make_input(tuple(values.shape), dtype, seed=100 + i, scale=1.0).to(device)

            def ref(x=x, dy=dy, where=where):
                return reference.max_pool2d_backward_reference(dy.cpu().double(), where, tuple(x.shape))

            yield Case(lambda x=x, dy=dy, k=kernel, s=stride, r=ref: (grad(pool(k, s), x, dy), r()),
                        f"x = {make}.requires_grad_()\n"
                        f"dx, = torch.autograd.grad(fn(x, {kernel}, {stride}), x, dy)  # dy = "
                        f"{make_text(tuple(values.shape), dtype, seed=100 + i, scale=1.0)}\n"
                        "dx_expected: dy added at each window's first maximum (kernels.reference)",
                        TOLERANCES[dtype] if dtype != torch.float64 else dict(atol=1e-12, rtol=0.0),
                        dtype=dtype)  # fmt: skip

    def nan_cases():
        x = make_input((1, 2, 5, 5), torch.float32).to(device)
        x[0, 0, 1, 1] = float("nan")
        yield Case(lambda x=x: (fn(x, 3, 2), _pool_expected(x.double(), 3, 2)[0]),
                    "x = kernels.testing.make_input((1, 2, 5, 5)); x[0, 0, 1, 1] = float('nan')\ny = fn(x, 3, 2)\n"
                    "a window that holds a NaN gives NaN, as in PyTorch", dict(atol=0.0, rtol=0.0), nan_locality=True,
                    dtype=torch.float32)

    def gradcheck_cases():
        x = make_input((1, 2, 7, 7), torch.float64, kind="distinct").to(device)
        yield gradcheck_case(pool(3, 2), x, "fn(x, 3, 2)", make_text((1, 2, 7, 7), torch.float64, kind="distinct"))

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
