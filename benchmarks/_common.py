"""What every benchmark shares: timing on GPU and CPU, the device's name and peak bandwidth, saving, plotting."""

from __future__ import annotations

import csv
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

# ALEXNET_BENCH_OUT redirects every result (gpu_check.sh collects them in its OUTDIR).
RESULTS = Path(os.environ.get("ALEXNET_BENCH_OUT") or Path(__file__).resolve().parent / "results")
# The measured device-to-device copy bandwidth (GB/s), when known: rows then also say what % of it they reach.
COPY_GBPS = float(os.environ.get("ALEXNET_COPY_GBPS") or 0) or None

# Spec-sheet HBM bandwidth in GB/s, matched against torch.cuda.get_device_name(). Used for "% of peak".
PEAK_GBPS = {
    "H200": 4800.0,
    "H100 SXM": 3350.0,  # also "H100 80GB HBM3"
    "H100 80GB HBM3": 3350.0,
    "H100 PCIe": 2000.0,
    "H100 NVL": 3900.0,
    "A100-SXM4-80GB": 2039.0,
    "A100 80GB PCIe": 1935.0,
    "A100-SXM4-40GB": 1555.0,
    "A100-PCIE-40GB": 1555.0,
}


def device_name(device: torch.device) -> str:
    """``NVIDIA H200``; for the CPU its model, the vector instructions torch uses and the threads, e.g.
    ``AMD EPYC (AVX2) x2 threads``: two CPUs of one architecture can differ twofold, so each gets its own files."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    from alexnet.experiments._results import cpu_model

    return f"{cpu_model()} ({torch.backends.cpu.get_cpu_capability()}) x{torch.get_num_threads()} threads"


def peak_gbps(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, value in PEAK_GBPS.items():
        if key in name:
            return value
    return None


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def time_ms(fn: Callable[[], object], device: torch.device, reps: int = 20) -> dict[str, float]:
    """Median and 20th/80th percentiles of fn's run time in ms.

    On CUDA this is ``triton.testing.do_bench`` (L2 flushed between runs); on the CPU a warm-up then ``reps``
    wall-clock runs.
    """
    if device.type == "cuda":
        import triton.testing

        p50, p20, p80 = triton.testing.do_bench(fn, quantiles=[0.5, 0.2, 0.8])
        return dict(ms=p50, ms_p20=p20, ms_p80=p80, runs=None)
    if reps < 1:
        raise ValueError(f"reps must be at least 1, got {reps}")
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    if len(times) < 2:  # --reps 1 (a smoke run): no spread to report
        return dict(ms=times[0], ms_p20=times[0], ms_p80=times[0], runs=len(times))
    q = statistics.quantiles(times, n=5, method="inclusive")  # within the measured range, even for 2 runs
    return dict(ms=statistics.median(times), ms_p20=q[0], ms_p80=q[3], runs=reps)


def bench_pass(fn: Callable, x: torch.Tensor, mode: str, device: torch.device, reps: int) -> dict[str, float]:
    """Time ``fn(x)`` alone (mode "forward", under no_grad) or followed by its backward ("forward+backward")."""
    if mode == "forward":

        def run():
            with torch.no_grad():
                fn(x)

    else:
        xg = x.detach().requires_grad_()
        with torch.no_grad():
            dy = torch.randn_like(fn(x))

        def run():
            xg.grad = None
            fn(xg).backward(dy)

    return time_ms(run, device, reps)


def run_cases(
    cases: list[tuple[tuple[int, ...], torch.dtype]],
    providers: dict[str, Callable],
    bytes_moved: Callable[[torch.Tensor, str], int],
    device: torch.device,
    reps: int,
    baseline: str = "torch eager",
) -> list[dict]:
    """Time every provider on every (shape, dtype) and mode; print a line each; return rows with speed-ups."""
    peak = peak_gbps(device)
    rows = []
    for shape, dtype in cases:
        x = torch.randn(shape, device=device, dtype=dtype)
        for mode in ("forward", "forward+backward"):
            for name, fn in providers.items():
                t = bench_pass(fn, x, mode, device, reps)
                gbps = bytes_moved(x, mode) / (t["ms"] * 1e-3) / 1e9
                row = dict(shape="x".join(map(str, shape)), dtype=str(dtype).removeprefix("torch."), mode=mode)
                row.update(
                    provider=name, **t, gbps=round(gbps, 1), pct_peak=round(100 * gbps / peak, 1) if peak else None,
                    pct_copy=round(100 * gbps / COPY_GBPS, 1) if COPY_GBPS else None,
                )
                rows.append(row)
                print(
                    f"{row['shape']:>14} {row['dtype']:>8} {mode:>16} {name:>24}: {t['ms']:9.3f} ms "
                    f"[{t['ms_p20']:.3f}, {t['ms_p80']:.3f}] {gbps:8.1f} GB/s"
                    + (f" ({row['pct_peak']}% of peak)" if peak else "")
                )
    for row in rows:
        same_case = [b for b in rows if all(b[k] == row[k] for k in ("shape", "dtype", "mode"))]
        base = next((b for b in same_case if b["provider"] == baseline), None)
        row["speedup_vs_eager"] = round(base["ms"] / row["ms"], 2) if base else None
    return rows


def add_overwrite(parser) -> None:
    """The ``--overwrite`` every benchmark takes: without it a result already saved is kept."""
    parser.add_argument("--overwrite", action="store_true",
                        help="replace this benchmark's saved result for this device (default: refuse)")  # fmt: skip


def result_path(name: str, device: torch.device, overwrite: bool = False) -> Path:
    """Where :func:`save` writes ``name``'s JSON for ``device``; a result already there (a committed one, or a
    user's earlier run) stops the benchmark with one line unless ``overwrite``. Call it before measuring too, so
    that nothing is measured only to be refused."""
    path = RESULTS / f"{name}-{slug(device_name(device))}.json"
    if path.exists() and not overwrite:
        raise SystemExit(f"{path} exists (a result measured before): pass --overwrite to replace it, or set "
                         f"ALEXNET_BENCH_OUT to another folder")  # fmt: skip
    return path


def save(name: str, device: torch.device, rows: list[dict], meta: dict, overwrite: bool = False) -> Path:
    """Write rows as JSON (with meta: device, versions, command) and CSV; return the JSON path. A result already
    there is refused unless ``overwrite`` (see :func:`result_path`)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = result_path(name, device, overwrite).with_suffix("")
    meta = dict(
        meta,
        device=device_name(device),
        torch=torch.__version__,
        python=platform.python_version(),
        command=" ".join([Path(sys.executable).name, *sys.argv]),
        date=time.strftime("%Y-%m-%d"),
    )
    try:
        import triton

        meta["triton"] = triton.__version__
    except ImportError:
        pass
    stem.with_suffix(".json").write_text(json.dumps(dict(meta=meta, rows=rows), indent=2) + "\n")
    with stem.with_suffix(".csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return stem.with_suffix(".json")


def plot_grouped(rows: list[dict], group_keys: tuple[str, ...], title: str, path: Path) -> None:
    """Bar chart of ms per provider, one group of bars per configuration, with p20-p80 whiskers."""
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys(" ".join(str(r[k]) for k in group_keys) for r in rows))
    providers = list(dict.fromkeys(r["provider"] for r in rows))
    width = 0.8 / len(providers)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(groups)), 4))
    for i, provider in enumerate(providers):
        xs, ms, err = [], [], [[], []]
        for g, group in enumerate(groups):
            for r in rows:
                if r["provider"] == provider and " ".join(str(r[k]) for k in group_keys) == group:
                    xs.append(g + i * width)
                    ms.append(r["ms"])
                    err[0].append(r["ms"] - r["ms_p20"])
                    err[1].append(r["ms_p80"] - r["ms"])
        ax.bar(xs, ms, width, yerr=err, label=provider, capsize=2)
    ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))])
    ax.set_xticklabels(groups, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("time (ms, median; whiskers p20-p80)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
