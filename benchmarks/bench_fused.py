"""Benchmark the fused ReLU -> LRN -> max-pool against the same chain in eager PyTorch and under torch.compile.

Time: AlexNet's conv1 and conv2 outputs (128,96,55,55) and (128,256,27,27), fp32 and bf16, forward and
forward+backward (targets on an H100: >= 2x eager, >= 1.2x torch.compile). On a CPU the comparison is the
torch backend (kernels' LRN + F.max_pool2d) against the eager chain at batch 32.

Memory: bytes saved for backward by each version, counted with torch.autograd.graph.saved_tensors_hooks
(target: the fused kernel saves >= 50% less). The fused count needs the Triton path: a GPU, or
TRITON_INTERPRET=1 on the CPU (slow: use --batch 2; the ratio does not depend on the batch).

    python benchmarks/bench_fused.py [--batch N] [--reps 20] [--skip-time]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from _common import RESULTS, add_overwrite, device_name, plot_grouped, result_path, run_cases, save, slug

import kernels
from kernels._triton import interpreter_enabled

LRN = dict(size=5, alpha=1e-4, beta=0.75, k=2.0)


def eager(x):
    return F.max_pool2d(F.local_response_norm(F.relu(x), **LRN), 3, 2)


def fused(backend):
    return lambda x: kernels.relu_lrn_max_pool2d(x, **LRN, alpha_over_size=True, backend=backend)


def saved_bytes(fn, x: torch.Tensor) -> int:
    """Bytes of distinct tensors autograd keeps for backward when fn runs on x."""
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        fn(x.detach().requires_grad_())
    unique = {(t.untyped_storage().data_ptr(), t.storage_offset(), t.dtype, t.shape): t for t in saved}
    return sum(t.numel() * t.element_size() for t in unique.values())


def bytes_moved(x: torch.Tensor, mode: str) -> int:
    # The fused kernel's minimum: read x, write the pooled output and a byte per output; backward reads x, dy
    # and the positions and writes dx.
    n, out = x.numel(), x.numel() // 4
    fwd = n * x.element_size() + out * (x.element_size() + 1)
    return fwd if mode == "forward" else fwd + 2 * n * x.element_size() + out * (x.element_size() + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=None, help="default: 128 on a GPU, 32 on the CPU")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--skip-time", action="store_true", help="only count saved bytes")
    add_overwrite(parser)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    batch = args.batch or (128 if device.type == "cuda" else 32)
    triton_here = device.type == "cuda" or interpreter_enabled()
    name = "fused-memory" if args.skip_time else "fused"
    result_path(name, device, args.overwrite)  # refuse before measuring, not after

    memory = []
    for shape in [(batch, 96, 55, 55), (batch, 256, 27, 27)]:
        x = torch.randn(shape, device=device)
        row = dict(shape="x".join(map(str, shape)), dtype="float32", unfused_eager_bytes=saved_bytes(eager, x))
        if triton_here:
            row["fused_triton_bytes"] = saved_bytes(fused("triton"), x)
            row["saving_pct"] = round(100 * (1 - row["fused_triton_bytes"] / row["unfused_eager_bytes"]), 1)
        memory.append(row)
        print("saved for backward:", row)

    rows = []
    if not args.skip_time:
        if device.type == "cuda":
            shapes = [(batch, 96, 55, 55), (batch, 256, 27, 27)]
            cases = [(s, d) for s in shapes for d in (torch.float32, torch.bfloat16)]
            providers = {"triton": fused("triton"), "torch eager": eager, "torch.compile": torch.compile(eager)}
        else:
            cases = [((batch, 96, 55, 55), torch.float32)]
            providers = {"kernels (torch backend)": fused("torch"), "torch eager": eager}
        rows = run_cases(cases, providers, bytes_moved, device, args.reps)
        png = RESULTS / f"fused-{slug(device_name(device))}.png"
        plot_grouped(rows, ("shape", "dtype", "mode"), f"ReLU->LRN->max-pool on {device_name(device)}", png)
    path = save(name, device, rows or memory, dict(op="relu_lrn_max_pool2d", lrn=LRN, saved_for_backward=memory),
                overwrite=args.overwrite)  # fmt: skip
    print(f"saved {path}")


if __name__ == "__main__":
    main()
