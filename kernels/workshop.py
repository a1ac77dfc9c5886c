"""The kernel workshop's machinery (``labs/06_write_the_kernels.ipynb``).

A student writes only the ``@triton.jit`` kernels; this module launches them with the lab's signatures
(:func:`lrn_function`, :func:`max_pool2d_function`), grades them with ``kernels.testing``'s checks
(``check_*``: a short verdict, never an exception), swaps in the reference solutions of ``labs/solutions/``
(:func:`use`), and gives the numbers the notebook discusses (:func:`fusion_traffic`, :func:`compile_report`).

Every launcher fills its output with NaN before the kernel runs, and each skeleton's TODO region stores a NaN
placeholder: an output that is NaN everywhere for a finite input means "not attempted yet".
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from . import testing
from ._dispatch import check_float_tensor
from .gpu_compile import ARCHS, compile_for_gpus
from .reference import lrn_window

__all__ = [
    "use", "source", "skeleton", "window_sum_function", "lrn_function", "max_pool2d_function", "check_window_sum",
    "check_lrn_forward", "check_lrn_backward", "check_max_pool2d", "fusion_traffic", "static_report_bytes",
    "compile_report", "exercise_signature",
]  # fmt: skip

# Positions (or cells) per program. Triton's interpreter runs programs one after another, so few large ones
# keep the checks fast on a CPU; on a GPU 256 lanes is 8 warps' worth, a common starting point.
BLOCK = 256
SOLUTIONS = {  # kernel name -> the file in labs/solutions/ that holds its reference solution
    "window_sum_kernel": "window_sum",
    "lrn_forward_kernel": "lrn",
    "lrn_backward_kernel": "lrn",
    "max_pool_forward_kernel": "max_pool",
    "max_pool_backward_kernel": "max_pool",
}
LRN_FORWARD_CHECKS = [name for name in testing.check_names("lrn") if "forward" in name or "smaller" in name]
LRN_BACKWARD_CHECKS = [name for name in testing.check_names("lrn") if name not in LRN_FORWARD_CHECKS]


def solutions_folder() -> Path:
    """``labs/solutions``: beside the running notebook, else in the repository this package belongs to."""
    here = Path.cwd() / "solutions"
    return here if here.is_dir() else Path(__file__).resolve().parents[1] / "labs" / "solutions"


def load_solution(name: str):
    """Import ``labs/solutions/<name>.py`` (a plain file, not a package) as a module."""
    path = solutions_folder() / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"solutions.{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def use(kernel, solutions: bool = False):
    """``kernel`` itself, or with ``solutions=True`` the reference solution of the same name."""
    name = _name(kernel)
    if not solutions:
        return kernel
    if name not in SOLUTIONS:
        raise ValueError(f"use: no solution for {name!r}; the exercises' kernels are {sorted(SOLUTIONS)}")
    return getattr(load_solution(SOLUTIONS[name]), name)


def _name(kernel) -> str:
    return getattr(getattr(kernel, "fn", kernel), "__name__", type(kernel).__name__)


# What stands in each kernel's TODO region until the student replaces it: hints, then a NaN placeholder.
PLACEHOLDERS = {
    "window_sum_kernel": [
        "# for each d in tl.static_range(SIZE): channel j = c - SIZE // 2 + d, loaded with a mask",
        "# that keeps j inside [0, C) (other=0.0), added to acc as a_j * a_j",
        'acc = tl.full((BLOCK,), float("nan"), tl.float32)  # replace this line',
    ],
    "lrn_forward_kernel": [
        "# s starts at k; add (alpha * a_j) * a_j over window(c) as in exercise a, in ACC;",
        "# then b = a_c * s^(-beta), with s^(-beta) = tl.exp2(-beta * tl.log2(s))",
        'b = tl.full((BLOCK,), float("nan"), ACC)  # replace this line',
    ],
    "lrn_backward_kernel": [
        "# a_i = channel i; dx starts at 0. For each e in tl.static_range(SIZE):",
        "#   j = i - (SIZE - 1) // 2 + e, has_j = in_bounds and j in [0, C);",
        "#   s_j as in the forward (a masked load per window channel); v_j = dy_j * s_j^(-beta);",
        "#   dx += -2 beta v_j (alpha a_i) (a_j / s_j) where has_j (tl.where), else 0;",
        "#   dx += v_j when j == i (e == (SIZE - 1) // 2)",
        'dx = tl.full((BLOCK,), float("nan"), ACC)  # replace this line',
    ],
    "max_pool_forward_kernel": [
        "# for kh, kw in tl.static_range(KS): h = oh * STRIDE + kh, w = ow * STRIDE + kw,",
        "# v = x[plane, h, w] in ACC; take v if v > best, or v is NaN (v != v), or it is the",
        "# window's first cell (best_idx < 0)",
        'best = tl.full((BLOCK,), float("nan"), ACC)  # replace these two lines',
        "best_idx = tl.full((BLOCK,), -1, tl.int64)",
    ],
    "max_pool_backward_kernel": [
        "# for dh, dw in tl.static_range((KS + STRIDE - 1) // STRIDE): the window",
        "# (oh, ow) = (h // STRIDE - dh, w // STRIDE - dw) holds (h, w) if it exists and",
        "# oh * STRIDE + KS > h (likewise for w); add its dy when its index is h * W + w",
        'acc = tl.full((BLOCK,), float("nan"), ACC)  # replace this line',
    ],
}
TODO_START, TODO_END = "# ---- TODO", "# ---- end of TODO ----"


def solution_source(name: str) -> str:
    """The source of the reference kernel ``name`` in ``labs/solutions/``, decorator included."""
    text = (solutions_folder() / f"{SOLUTIONS[name]}.py").read_text()
    start = text.index(f"@triton.jit\ndef {name}(")
    end = text.find("\n\n\n", start)
    return text[start : end if end >= 0 else len(text)].rstrip() + "\n"


def skeleton(name: str) -> str:
    """The exercise as the notebook shows it: the solution with its TODO region's body replaced by hints and a
    NaN placeholder."""
    lines = solution_source(name).splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(TODO_START))
    end = next(i for i, line in enumerate(lines) if line.strip() == TODO_END)
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    return "\n".join(lines[: start + 1] + [indent + line for line in PLACEHOLDERS[name]] + lines[end:]) + "\n"


def source(kernel) -> str:
    """A ``@triton.jit`` kernel's Python source, compiled or interpreted alike (for reading it in a notebook).

    ``kernel``: the kernel, or its dotted name such as ``"kernels.lrn._lrn_forward_kernel"``.
    """
    if isinstance(kernel, str):
        module, _, name = kernel.rpartition(".")
        kernel = getattr(importlib.import_module(module), name)
    return inspect.getsource(getattr(kernel, "fn", kernel))


def _refuse_untouched(kernel, out: torch.Tensor, *inputs: torch.Tensor) -> None:
    if out.numel() and out.isnan().all() and all(bool(t.isfinite().all()) for t in inputs):
        raise testing.NotAttempted(f"{_name(kernel)} stores NaN everywhere: fill in its TODO region")


# ---------------------------------------------------------------------------------------------- launchers


def window_sum_function(kernel) -> Callable:
    """``fn(x, size) -> out``, out[n, c] = sum over window(c) of x[n, j]^2 in fp32, with ``kernel`` doing it."""

    def window_sum(x: torch.Tensor, size: int) -> torch.Tensor:
        check_float_tensor(x, "x", "window_sum", ranks=(3, 4))
        x = x.contiguous()
        out = torch.full(x.shape, float("nan"), dtype=torch.float32, device=x.device)
        num_hw = x[0, 0].numel() if x.numel() else 0
        grid = (x.shape[0] * -(-num_hw // BLOCK),)
        kernel[grid](x, out, x.shape[1], num_hw, SIZE=size, BLOCK=BLOCK)
        _refuse_untouched(kernel, out, x)
        return out

    return window_sum


def _lrn_launch(kernel, tensors, num_hw, hyper, dtype):
    size, alpha, beta, k = hyper
    grid = (tensors[0].shape[0] * -(-num_hw // BLOCK),)
    kernel[grid](*tensors, tensors[0].shape[1], num_hw, float(alpha), float(beta), float(k), SIZE=size, BLOCK=BLOCK,
                 ACC_FP64=dtype == torch.float64)  # fmt: skip


def lrn_function(forward_kernel, backward_kernel=None) -> Callable:
    """``fn(x, size, alpha, beta, k, alpha_over_size=False)``, the lab's LRN signature, on the given kernels.

    Inputs of any layout are made contiguous first (the exercises' kernels index (N, C, H, W) directly).
    Without ``backward_kernel`` the backward says "not attempted".
    """

    class StudentLRN(torch.autograd.Function):
        @staticmethod
        def forward(x, size, alpha, beta, k):
            x = x.contiguous()
            y = torch.full_like(x, float("nan"))
            if x.numel():
                _lrn_launch(forward_kernel, (x, y), x[0, 0].numel(), (size, alpha, beta, k), x.dtype)
                _refuse_untouched(forward_kernel, y, x)
            return y

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])
            ctx.hyper = inputs[1:]

        @staticmethod
        def backward(ctx, dy):
            if backward_kernel is None:
                raise testing.NotAttempted("no backward kernel yet (exercise c)")
            (x,) = ctx.saved_tensors
            x, dy = x.contiguous(), dy.contiguous()
            dx = torch.full_like(x, float("nan"))
            if x.numel():
                _lrn_launch(backward_kernel, (x, dy, dx), x[0, 0].numel(), ctx.hyper, x.dtype)
                _refuse_untouched(backward_kernel, dx, x, dy)
            return dx, None, None, None, None

    def lrn(x, size, alpha, beta, k, alpha_over_size=False):
        check_float_tensor(x, "x", "lrn", ranks=(3, 4))
        return StudentLRN.apply(x, int(size), alpha / size if alpha_over_size else alpha, beta, k)

    lrn.__qualname__ = lrn.__name__ = " + ".join(_name(k) for k in (forward_kernel, backward_kernel) if k)
    return lrn


def max_pool2d_function(forward_kernel, backward_kernel=None) -> Callable:
    """``fn(x, kernel_size, stride, return_indices=False)`` (no padding), on the given kernels."""

    class StudentMaxPool(torch.autograd.Function):
        @staticmethod
        def forward(x, size, stride):
            x = x.contiguous()
            num_n, num_c, height, width = x.shape
            out_h, out_w = (height - size) // stride + 1, (width - size) // stride + 1
            y = torch.full((num_n, num_c, out_h, out_w), float("nan"), dtype=x.dtype, device=x.device)
            idx = torch.full(y.shape, -1, dtype=torch.int64, device=x.device)
            grid = (-(-y.numel() // BLOCK),)
            forward_kernel[grid](x, y, idx, height, width, out_h, out_w, y.numel(), KS=size, STRIDE=stride,
                                 BLOCK=BLOCK, ACC_FP64=x.dtype == torch.float64)  # fmt: skip
            _refuse_untouched(forward_kernel, y, x)
            return y, idx

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0], output[1])
            ctx.geometry = inputs[1:]
            ctx.mark_non_differentiable(output[1])

        @staticmethod
        def backward(ctx, dy, _didx):
            if backward_kernel is None:
                raise testing.NotAttempted("no backward kernel yet (exercise d, second part)")
            x, idx = ctx.saved_tensors
            x, dy = x.contiguous(), dy.contiguous()
            dx = torch.full_like(x, float("nan"))
            size, stride = ctx.geometry
            grid = (-(-x.numel() // BLOCK),)
            backward_kernel[grid](x, dy, idx, dx, *x.shape[2:], *dy.shape[2:], x.numel(), KS=size, STRIDE=stride,
                                  BLOCK=BLOCK, ACC_FP64=x.dtype == torch.float64)  # fmt: skip
            _refuse_untouched(backward_kernel, dx, dy)
            return dx, None, None

    def max_pool2d(x, kernel_size, stride, return_indices=False):
        check_float_tensor(x, "x", "max_pool2d", ranks=(4,))
        if min(x.shape[-2:]) < kernel_size:
            raise ValueError(f"max_pool2d: the plane {tuple(x.shape[-2:])} is smaller than the window {kernel_size}")
        y, idx = StudentMaxPool.apply(x, int(kernel_size), int(stride))
        return (y, idx) if return_indices else y

    max_pool2d.__qualname__ = max_pool2d.__name__ = " + ".join(
        _name(k) for k in (forward_kernel, backward_kernel) if k)
    return max_pool2d


# -------------------------------------------------------------------------------------------------- graders


def check_window_sum(kernel) -> testing.Report:
    """Exercise a: the window sums against PyTorch, at three shapes (C below, at and above the window)."""
    fn = window_sum_function(kernel)
    report = testing.Report("window_sum", _name(kernel))
    tol = dict(rtol=1e-5, atol=1e-5)
    for shape, size in (((2, 7, 5, 3), 5), ((1, 3, 4, 4), 5), ((2, 13, 9, 9), 3)):
        x = testing.make_input(shape, torch.float32)
        squares = x.double() ** 2
        expected = torch.stack([squares[:, list(lrn_window(c, shape[1], size))].sum(1) for c in range(shape[1])], 1)
        name = f"C={shape[1]}, SIZE={size}"
        try:
            out = fn(x, size)
        except testing.NotAttempted as err:
            report.not_attempted = str(err)
            break
        except Exception as err:  # the student's error is the verdict
            report.results.append(testing.CheckResult(name, False, None, "", detail=f"raised {err!r}"))
            continue
        error = (out.double() - expected).abs().max().item()
        passed = torch.allclose(out.double(), expected, **tol)
        report.results.append(testing.CheckResult(
            name, passed, error, f"atol {tol['atol']:.0e} + rtol {tol['rtol']:.0e}",
            reproducer=f"x = kernels.testing.make_input({shape})\nout = window_sum(x, {size})\n"
                       f"expected[:, c] = sum of x[:, j]**2, j in kernels.reference.lrn_window(c, {shape[1]}, {size})",
            detail="" if passed else "outside the tolerance"))  # fmt: skip
    return _show(report)


def check_lrn_forward(forward_kernel) -> testing.Report:
    """Exercise b: every forward check of ``kernels.testing.check_lrn``."""
    return _show(testing.check_lrn(lrn_function(forward_kernel), only=LRN_FORWARD_CHECKS))


def check_lrn_backward(backward_kernel, forward_kernel=None) -> testing.Report:
    """Exercise c: every backward check of ``kernels.testing.check_lrn``, gradcheck included.

    The forward is the reference solution's unless given, so that exercise c is graded on its own.
    """
    forward_kernel = forward_kernel or load_solution("lrn").lrn_forward_kernel
    return _show(testing.check_lrn(lrn_function(forward_kernel, backward_kernel), only=LRN_BACKWARD_CHECKS))


def check_max_pool2d(forward_kernel, backward_kernel=None) -> testing.Report:
    """Exercise d: ``kernels.testing.check_max_pool2d`` (forward only until there is a backward kernel)."""
    only = None if backward_kernel is not None else [n for n in testing.check_names("max_pool2d")
                                                     if "backward" not in n and n != "gradcheck"]  # fmt: skip
    return _show(testing.check_max_pool2d(max_pool2d_function(forward_kernel, backward_kernel), only=only))


def _show(report: testing.Report) -> testing.Report:
    print(report)
    return report


# ---------------------------------------------------------------------------------------- the numbers it uses


def fusion_traffic(shape=(32, 96, 55, 55), dtype_bytes: int = 4) -> list[dict]:
    """Bytes ReLU -> LRN -> 3x3/2 max-pool must move at ``shape``, as three ops and as one fused kernel.

    Each tensor is read once and written once (the ideal; real kernels re-read through the caches). Separate:
    every op writes its output and the next reads it back, and PyTorch's pool keeps int64 indices. Fused: read x,
    write the pooled output and a 1-byte position per output (which of the 9 cells won).
    """
    num_n, num_c, height, width = shape
    elements = num_n * num_c * height * width
    pooled = num_n * num_c * ((height - 3) // 2 + 1) * ((width - 3) // 2 + 1)
    b = dtype_bytes
    rows = [
        dict(pass_="forward", separate=b * (5 * elements + pooled) + 8 * pooled,
             fused=b * (elements + pooled) + pooled),
        dict(pass_="backward", separate=b * (7 * elements + pooled) + 8 * pooled,
             fused=b * (2 * elements + pooled) + pooled),
    ]  # fmt: skip
    for row in rows:
        row["ratio"] = row["separate"] / row["fused"]
    return rows


def static_report_bytes(results: Path) -> dict[str, dict]:
    """The lab's static report (``benchmarks/kernel_report.py``): per kernel, the bytes its loads and stores issue
    at one sample of conv1's output, and the minimum it must move. Empty when the report is absent."""
    path = results / "kernel-report.json"
    if not path.is_file():
        return {}
    return {row["kernel"].rsplit(".", 1)[-1]: row for row in json.loads(path.read_text())["memory"]}


def exercise_signature(name: str) -> tuple[dict, dict, int]:
    """(signature, constexprs, num_warps) to compile an exercise's kernel for AlexNet's conv1 shape, fp32."""
    f32 = "*fp32"
    if name == "window_sum_kernel":
        sig = dict(x_ptr=f32, out_ptr=f32, C="i32", HW="i32")
        return sig, dict(SIZE=5, BLOCK=BLOCK), 8
    if name in ("lrn_forward_kernel", "lrn_backward_kernel"):
        pointers = ("x_ptr", "y_ptr") if name == "lrn_forward_kernel" else ("x_ptr", "dy_ptr", "dx_ptr")
        sig = dict({p: f32 for p in pointers}, C="i32", HW="i32", alpha="fp32", beta="fp32", k="fp32")
        return sig, dict(SIZE=5, BLOCK=BLOCK, ACC_FP64=False), 8
    if name == "max_pool_forward_kernel":
        sig = dict(x_ptr=f32, y_ptr=f32, idx_ptr="*i64", H="i32", W="i32", OH="i32", OW="i32", total="i32")
        return sig, dict(KS=3, STRIDE=2, BLOCK=BLOCK, ACC_FP64=False), 8
    if name == "max_pool_backward_kernel":
        sig = dict(x_ptr=f32, dy_ptr=f32, idx_ptr="*i64", dx_ptr=f32, H="i32", W="i32", OH="i32", OW="i32",
                   total="i32")  # fmt: skip
        return sig, dict(KS=3, STRIDE=2, BLOCK=BLOCK, ACC_FP64=False), 8
    raise ValueError(f"compile_report: {name!r} is not one of the workshop's kernels {sorted(SOLUTIONS)}")


def compile_report(kernel, archs=ARCHS) -> list[dict]:
    """Compile an exercise's kernel for real GPUs (fp32, the launcher's block) and print registers and spills."""
    name = _name(kernel)
    signature, constexprs, num_warps = exercise_signature(name)
    rows = []
    for arch, info in zip(archs, compile_for_gpus(kernel, signature, constexprs, archs, num_warps)):
        if isinstance(info, Exception):  # the compiler's verdict on the student's kernel is what we show
            rows.append(dict(arch=arch, error=testing.first_line(info)))
            continue
        rows.append(dict(arch=arch, registers=info.registers, spill_bytes=info.spill_bytes,
                         cubin_bytes=info.cubin_bytes))  # fmt: skip
    print(f"{name}, fp32, {num_warps} warps:")
    for row in rows:
        what = row.get("error") or f"{row['registers']} registers per thread, {row['spill_bytes']} B spilled, " \
                                   f"{row['cubin_bytes']:,} B of cubin"  # fmt: skip
        print(f"  sm_{row['arch']}: {what}")
    return rows
