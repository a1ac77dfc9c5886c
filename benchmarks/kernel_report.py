"""What can be known about every Triton kernel's performance without a GPU: a static report, labelled as a model.

Two sources, both on a CPU:

* the compiler: every kernel compiled for sm_80 and sm_90 at the block sizes its launcher picks for AlexNet's
  shapes (``tests/kernels/compile_for_gpu.py``), its PTX through the ``ptxas`` inside Triton: registers per
  thread, spills, stack, shared memory, static global load/store instructions;
* Triton's interpreter, counting: each op run forward and backward at an AlexNet layer's shape (one sample of
  conv1's output, 96x55x55, fp32), with every active lane of every ``tl.load``/``tl.store`` counted. That is
  exactly what the compiled kernel issues per element (the same program); how much of it DRAM serves depends on
  the caches, so the time is given as a bracket: the minimum bytes the op must move (read the inputs once, write
  the outputs once) at the card's bandwidth, and the issued bytes with no cache reuse at all.

    python benchmarks/kernel_report.py            # writes benchmarks/results/kernel-report-sm90.md and .json

``tests/kernels/test_kernel_report.py`` keeps the recorded loads per element as a regression guard, and the
compile check fails on any spill.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BANDWIDTH = {"H200": 4.8e12, "H100 SXM": 3.35e12}  # bytes/s, spec sheets
SHAPE = (1, 96, 55, 55)  # one sample of conv1's output: per-element figures do not depend on the batch


@contextmanager
def counting_memory_ops():
    """Count active lanes and bytes of every load and store Triton's interpreter executes inside the block."""
    from triton.runtime import interpreter

    counts = dict(load_lanes=0, load_bytes=0, store_lanes=0, store_bytes=0)
    builder = interpreter.InterpreterBuilder
    load, store = builder.create_masked_load, builder.create_masked_store

    def counted_load(self, ptrs, mask, *args, **kwargs):
        ret = load(self, ptrs, mask, *args, **kwargs)
        lanes = int(mask.data.sum())
        counts["load_lanes"] += lanes
        counts["load_bytes"] += lanes * ret.data.dtype.itemsize
        return ret

    def counted_store(self, ptrs, value, mask, *args, **kwargs):
        lanes = int(mask.data.sum())
        counts["store_lanes"] += lanes
        counts["store_bytes"] += lanes * value.data.dtype.itemsize
        return store(self, ptrs, value, mask, *args, **kwargs)

    builder.create_masked_load, builder.create_masked_store = counted_load, counted_store
    try:
        yield counts
    finally:
        builder.create_masked_load, builder.create_masked_store = load, store


def _cases() -> list[tuple[str, str, Callable[[], tuple[Callable, int, int]]]]:
    """(kernel, what it computes, setup) where setup() returns (run the kernel once, elements, minimum bytes)."""
    import torch

    import kernels
    from kernels.fused import relu_lrn_max_pool2d_backward, relu_lrn_max_pool2d_forward
    from kernels.lrn import lrn_backward, lrn_forward
    from kernels.maxpool import max_pool2d_backward, max_pool2d_forward, pool_geometry

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(SHAPE, generator=gen)
    geo = pool_geometry(x, 3, 2, 0, 1, False, "report")
    out_shape = (SHAPE[0], SHAPE[1], geo.OH, geo.OW)
    dy_pool = torch.randn(out_shape, generator=gen)
    n_in, n_out, f = x.numel(), dy_pool.numel(), x.element_size()
    hyper = (5, 1e-4, 0.75, 2.0)
    _, argmax, _ = max_pool2d_forward(x, geo, False)
    _, fused_argmax = relu_lrn_max_pool2d_forward(x, hyper, geo)
    dy = torch.randn(SHAPE, generator=gen)
    del kernels
    return [
        ("kernels.lrn._lrn_forward_kernel", "LRN forward, per output element",
         lambda: (lambda: lrn_forward(x, *hyper), n_in, 2 * n_in * f)),
        ("kernels.lrn._lrn_backward_kernel", "LRN backward, per input element",
         lambda: (lambda: lrn_backward(x, dy, *hyper), n_in, 3 * n_in * f)),
        ("kernels.maxpool._max_pool2d_forward_kernel", "max-pool 3x3/2 forward, per output element",
         lambda: (lambda: max_pool2d_forward(x, geo, False), n_out, n_in * f + n_out * (f + 1))),
        ("kernels.maxpool._max_pool2d_backward_kernel", "max-pool 3x3/2 backward, per input element",
         lambda: (lambda: max_pool2d_backward(dy_pool, argmax, SHAPE, geo, False), n_in, n_out * (f + 1) + n_in * f)),
        ("kernels.fused._relu_lrn_max_pool2d_forward_kernel", "ReLU->LRN->pool forward, per output element",
         lambda: (lambda: relu_lrn_max_pool2d_forward(x, hyper, geo), n_out, n_in * f + n_out * (f + 1))),
        ("kernels.fused._relu_lrn_max_pool2d_backward_kernel", "ReLU->LRN->pool backward, per input element",
         lambda: (lambda: relu_lrn_max_pool2d_backward(x, dy_pool, fused_argmax, hyper, geo), n_in,
                  n_in * f + n_out * (f + 1) + n_in * f)),
    ]  # fmt: skip


def measure_memory_ops() -> list[dict]:
    """Loads and stores per element of every kernel, counted in Triton's interpreter (must be enabled)."""
    if os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError("measure_memory_ops needs TRITON_INTERPRET=1 set before kernels is imported")
    rows = []
    for kernel, what, setup in _cases():
        run, elements, minimum = setup()
        with counting_memory_ops() as counts:
            run()
        issued = counts["load_bytes"] + counts["store_bytes"]
        rows.append(dict(
            kernel=kernel, what=what, elements=elements, loads_per_element=counts["load_lanes"] / elements,
            stores_per_element=counts["store_lanes"] / elements, issued_bytes=issued, minimum_bytes=minimum,
            issued_over_minimum=issued / minimum,
        ))  # fmt: skip
    return rows


def compile_figures() -> list[dict]:
    """Registers, spills, shared memory and static memory instructions of every variant (no GPU, no interpreter)."""
    out = ROOT / "benchmarks" / "results" / ".compile.json"
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    script = ROOT / "tests" / "kernels" / "compile_for_gpu.py"
    result = subprocess.run([sys.executable, str(script), "--arch", "80", "90", "--json", str(out)], env=env,
                            capture_output=True, text=True)  # fmt: skip
    if not out.is_file():
        raise RuntimeError(f"the compile check failed:\n{result.stdout}\n{result.stderr}")
    figures = json.loads(out.read_text())
    out.unlink()
    return figures


def render(memory: list[dict], compiled: list[dict], shape=SHAPE) -> str:
    """The report as Markdown: one table of the compiler's figures, one of the memory model."""
    lines = [
        "# Static kernel report (a model, not a measurement)",
        "",
        "Made without a GPU by `python benchmarks/kernel_report.py`. Compiler figures: `triton.compile` for sm_80 /",
        "sm_90 at the launchers' block sizes for AlexNet, PTX through Triton's own `ptxas -v`. Memory figures:",
        f"every active lane of every load/store counted in Triton's interpreter at {'x'.join(map(str, shape))} fp32",
        "(the same program the GPU runs). Time bracket: minimum bytes (inputs read once, outputs written once) and",
        "issued bytes (no cache reuse at all) at the spec-sheet bandwidth; real kernels land in between.",
        "",
        "| kernel | dtype | sm_80 regs | sm_90 regs | spills (B) | shared (B) | ld.global / st.global (static) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kernel in dict.fromkeys(c["kernel"] for c in compiled):
        for dtype in ("fp32", "bf16"):
            variants = {c["arch"]: c for c in compiled if c["kernel"] == kernel and c["dtype"] == dtype
                        and not c["flags"]}  # fmt: skip
            if not variants:
                continue
            spills = sum(v["spill_stores"] + v["spill_loads"] for v in variants.values())
            v90 = variants.get(90, {})
            lines.append(
                f"| `{kernel.split('.')[-1]}` | {dtype} | {variants.get(80, {}).get('registers', '-')} | "
                f"{v90.get('registers', '-')} | {spills} | {v90.get('shared', '-')} | "
                f"{v90.get('ld_global', '-')} / {v90.get('st_global', '-')} |"
            )
    lines += [
        "",
        "| kernel | loads / element | stores / element | issued / minimum bytes | H200 4.8 TB/s (us) | "
        "H100 3.35 TB/s (us) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in memory:
        bracket = {
            name: f"{row['minimum_bytes'] / bw * 1e6:.1f} - {row['issued_bytes'] / bw * 1e6:.1f}"
            for name, bw in BANDWIDTH.items()
        }
        lines.append(
            f"| `{row['kernel'].split('.')[-1]}` ({row['what']}) | {row['loads_per_element']:.2f} | "
            f"{row['stores_per_element']:.2f} | {row['issued_over_minimum']:.2f} | {bracket['H200']} | "
            f"{bracket['H100 SXM']} |"
        )
    lines += ["", "Times are for one sample of the shape; a batch of 128 takes 128x as long at the same rate.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(RESULTS), help="folder for kernel-report-sm90.md / .json")
    args = parser.parse_args()
    if os.environ.get("TRITON_INTERPRET") != "1":  # the interpreter must be on before kernels is imported
        os.execve(sys.executable, [sys.executable, *sys.argv], dict(os.environ, TRITON_INTERPRET="1"))
    sys.path.insert(0, str(ROOT))
    memory = measure_memory_ops()
    compiled = compile_figures()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "kernel-report-sm90.md").write_text(render(memory, compiled))
    (out / "kernel-report.json").write_text(json.dumps(dict(shape=SHAPE, memory=memory, compiled=compiled), indent=1))
    print(render(memory, compiled))


if __name__ == "__main__":
    main()
