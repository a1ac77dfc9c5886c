"""The whole GPU validation in one command: kernel tests on CUDA, the benchmarks, and a short Figure 1 sweep.

Made for a bare, offline GPU machine lent for a few minutes: system ``python3`` with torch, triton, pytest,
hypothesis, numpy, matplotlib, pillow, tqdm and scikit-image already installed, no venv, no network. Run it from
the repository root as ``PYTHONPATH=. bash benchmarks/gpu_check.sh OUTDIR`` (the shell script calls this file).

Stages run in order, each under a time limit; a stage is skipped (and says why) when there is no CUDA device or
when the total budget (``GPU_CHECK_BUDGET_S``, default 480 s) cannot cover its minimum. Every stage's elapsed
time is printed as it ends. OUTDIR receives three files, small enough to copy back: ``SUMMARY.md`` (the README's
tables, filled), ``summary.json`` (every stage's status and figures) and ``results.zip`` (every log, JSON, CSV
and PNG the stages wrote). Fold them into the repository with::

    unzip OUTDIR/results.zip -d /tmp/gpu && cp /tmp/gpu/bench/* benchmarks/results/ && cp OUTDIR/SUMMARY.md \\
        benchmarks/results/gpu-check-<device>.md

``--dry-run`` replaces every stage's command with a trivial one (CI runs it on the CPU, so a typo here never
wastes a GPU lease).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _shared(name: str) -> Path:
    """The lab's data file, inside the tree (a GPU machine's copy) or beside it (a developer's checkout)."""
    for folder in (ROOT / "shared" / "data", ROOT.parent / "shared" / "data"):
        if (folder / name).is_file():
            return folder / name
    return ROOT / "shared" / "data" / name


CIFAR_ZIP = _shared("cifar10-jpg.zip")
SAMPLES_ZIP = _shared("imagenet-samples-256.zip")
DEFAULT_BUDGET_S = 480.0


@dataclass
class Stage:
    name: str
    command: list[str]
    limit_s: float  # the stage is stopped after this long (its partial output is kept)
    min_s: float  # skipped when less than this is left of the budget
    needs_gpu: bool = True
    needs: Path | None = None  # skipped when this file is absent (the lab's data)
    env: dict = field(default_factory=dict)


def stages(out: Path) -> list[Stage]:
    py = sys.executable
    bench = dict(ALEXNET_BENCH_OUT=str(out / "bench"))
    return [
        Stage("environment", [py, str(Path(__file__)), "--environment", str(out / "environment.json")], 30, 5, False),
        Stage("copy bandwidth", [py, str(Path(__file__)), "--bandwidth", str(out / "bandwidth.json")], 30, 5),
        Stage("kernel tests on CUDA", [py, "-m", "pytest", "tests/kernels", "-q", "-x", "-p", "no:cacheprovider",
                                       "-m", "not slow", f"--junitxml={out / 'kernel-tests.xml'}"], 170, 60),
        Stage("bench_lrn", [py, "benchmarks/bench_lrn.py"], 45, 15, env=bench),
        Stage("bench_maxpool", [py, "benchmarks/bench_maxpool.py"], 35, 10, env=bench),
        Stage("bench_fused", [py, "benchmarks/bench_fused.py"], 45, 15, env=bench),
        Stage("bench_train", [py, "benchmarks/bench_train.py", "--reps", "10"], 60, 20, env=bench),
        Stage("bench_parallel", [py, "benchmarks/bench_parallel.py", "--reps", "10"], 40, 15, env=bench),
        Stage("bench_data", [py, "benchmarks/bench_data.py", "--data", str(SAMPLES_ZIP)], 40, 15, needs=SAMPLES_ZIP,
              env=bench),
        Stage("figure1 (2-minute sweep)", [py, "-m", "alexnet", "relu-vs-tanh", "--recipe", "cuda-convnet", "--data",
                                           str(CIFAR_ZIP), "--device", "cuda", "--lrs", "0.001", "0.002", "0.004",
                                           "--seeds", "1", "--max-epochs", "40", "--quiet", "--out",
                                           str(out / "figure1")], 120, 40, needs=CIFAR_ZIP),
    ]  # fmt: skip


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def run_stages(plan: list[Stage], out: Path, budget_s: float, has_gpu: bool, log=print) -> list[dict]:
    """Run each stage (or skip it, saying why) within the budget; return one record per stage."""
    start = time.perf_counter()
    records = []
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.pop("TRITON_INTERPRET", None)  # compiled kernels: the point of a GPU
    (out / "logs").mkdir(parents=True, exist_ok=True)
    for stage in plan:
        left = budget_s - (time.perf_counter() - start)
        reason = None
        if stage.needs_gpu and not has_gpu:
            reason = "no CUDA device"
        elif stage.needs is not None and not stage.needs.exists():
            reason = f"{stage.needs} is absent"
        elif left < stage.min_s:
            reason = f"budget: {left:.0f} s left, the stage needs {stage.min_s:.0f} s"
        if reason:
            records.append(dict(stage=stage.name, status="skipped", reason=reason, seconds=0.0))
            log(f"[{time.perf_counter() - start:6.1f} s] {stage.name}: skipped ({reason})")
            continue
        bandwidth = _load_json(out / "bandwidth.json")
        if bandwidth:
            env["ALEXNET_COPY_GBPS"] = str(bandwidth["copy_gbps"])
        limit = min(stage.limit_s, left)
        log_path = out / "logs" / (stage.name.split(" ")[0].replace("/", "-") + ".log")
        began = time.perf_counter()
        with log_path.open("w") as log_file:
            try:
                code = subprocess.run(stage.command, cwd=ROOT, env={**env, **stage.env}, stdout=log_file,
                                      stderr=subprocess.STDOUT, timeout=limit).returncode  # fmt: skip
                status = "passed" if code == 0 else f"failed (exit {code})"
            except subprocess.TimeoutExpired:
                status = f"stopped at its {limit:.0f} s limit"
        seconds = time.perf_counter() - began
        tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        records.append(dict(stage=stage.name, status=status, seconds=round(seconds, 1), last_line=tail[0][-300:]))
        log(f"[{time.perf_counter() - start:6.1f} s] {stage.name}: {status} in {seconds:.1f} s")
    return records


# ----------------------------------------------------------------------------------------------- summary


def _load_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _bench_table(rows: list[dict]) -> list[str]:
    lines = ["| shape | dtype | pass | provider | ms (p20-p80) | GB/s | % of copy | x eager |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in rows:
        lines.append(
            f"| {r.get('shape')} | {r.get('dtype')} | {r.get('mode')} | {r.get('provider')} | {r['ms']:.3f} "
            f"({r['ms_p20']:.3f}-{r['ms_p80']:.3f}) | {r.get('gbps', '-')} | {r.get('pct_copy', '-')} | "
            f"{r.get('speedup_vs_eager', '-')} |"
        )
    return lines


def write_summary(out: Path, records: list[dict], budget_s: float) -> Path:
    """SUMMARY.md from the stage records and whatever JSON the stages left in ``out``."""
    env = _load_json(out / "environment.json") or {}
    bandwidth = _load_json(out / "bandwidth.json") or {}
    lines = [
        f"# GPU check: {env.get('device', 'no CUDA device')}",
        "",
        f"`PYTHONPATH=. bash benchmarks/gpu_check.sh OUTDIR`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"budget {budget_s:.0f} s. torch {env.get('torch', '?')}, triton {env.get('triton', '?')}, "
        f"Python {env.get('python', platform.python_version())}.",
        "",
        "| stage | status | seconds | last line of its log |",
        "| --- | --- | --- | --- |",
    ]
    for r in records:
        detail = r.get("reason") or r.get("last_line", "")
        lines.append(f"| {r['stage']} | {r['status']} | {r['seconds']} | {detail.replace('|', '/')} |")
    if bandwidth:
        lines += ["", f"Measured device-to-device copy bandwidth: {bandwidth['copy_gbps']:.0f} GB/s "
                      f"({bandwidth['bytes'] / 1e9:.1f} GB copies, median of {bandwidth['runs']})."]  # fmt: skip
    for name in ("lrn", "maxpool", "fused", "train-step", "parallel", "data-pipeline"):
        for path in sorted((out / "bench").glob(f"{name}-*.json")):
            data = _load_json(path)
            if not data or not data.get("rows"):
                continue
            lines += ["", f"## {name} ({path.name})", ""]
            rows = data["rows"]
            if "gbps" in rows[0]:
                lines += _bench_table(rows)
            else:
                keys = list(rows[0])
                lines += ["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
                lines += ["| " + " | ".join(str(r.get(k)) for k in keys) + " |" for r in rows]
    figure1 = sorted((out / "figure1").glob("results-*.json")) if (out / "figure1").is_dir() else []
    if figure1:
        sys.path.insert(0, str(ROOT))
        from alexnet.experiments.figure1 import describe

        lines += ["", "## Figure 1 (short sweep)", "", describe(_load_json(figure1[0]))]
    path = out / "SUMMARY.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def pack(out: Path) -> list[Path]:
    """Zip everything but SUMMARY.md and summary.json into results.zip: OUTDIR ends with three files."""
    keep = {"SUMMARY.md", "summary.json"}
    archive = out / "results.zip"
    others = [p for p in sorted(out.rglob("*")) if p.is_file() and p.name not in keep and p != archive]
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in others:
            zf.write(path, path.relative_to(out))
    for path in others:
        path.unlink()
    for folder in sorted((p for p in out.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        folder.rmdir()
    return sorted(out.iterdir())


# ----------------------------------------------------------------------------------------------- helpers run as stages


def write_environment(path: Path) -> None:
    import torch

    info = dict(torch=torch.__version__, python=platform.python_version(), cuda=torch.version.cuda,
                device=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)  # fmt: skip
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        info["triton"] = None
    try:
        info["nvidia_smi"] = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        info["nvidia_smi"] = None
    path.write_text(json.dumps(info, indent=1))
    print(json.dumps({k: v for k, v in info.items() if k != "nvidia_smi"}))


def measure_bandwidth(path: Path, gigabytes: float = 2.0, runs: int = 20) -> None:
    """Device-to-device copy bandwidth (read + write bytes / time): the ceiling the kernels are judged against."""
    import statistics

    import torch

    src = torch.empty(int(gigabytes * 1e9 / 2) // 4, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)
    times = []
    for _ in range(runs + 3):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        dst.copy_(src)
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    seconds = statistics.median(times[3:])
    moved = 2 * src.numel() * src.element_size()
    result = dict(copy_gbps=moved / seconds / 1e9, bytes=moved, runs=runs)
    path.write_text(json.dumps(result))
    print(json.dumps(result))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", nargs="?", help="empty (or new) folder for SUMMARY.md, summary.json, results.zip")
    parser.add_argument("--dry-run", action="store_true", help="trivial stand-ins for every stage's command")
    parser.add_argument("--environment", metavar="JSON", help=argparse.SUPPRESS)
    parser.add_argument("--bandwidth", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.environment:
        write_environment(Path(args.environment))
        return 0
    if args.bandwidth:
        measure_bandwidth(Path(args.bandwidth))
        return 0
    if not args.outdir:
        parser.error("OUTDIR is required: PYTHONPATH=. bash benchmarks/gpu_check.sh OUTDIR")
    out = Path(args.outdir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        parser.error(f"{out} exists and is not an empty folder: results are never written over")
    out.mkdir(parents=True, exist_ok=True)
    try:
        budget = float(os.environ.get("GPU_CHECK_BUDGET_S", DEFAULT_BUDGET_S))
    except ValueError:
        parser.error(f"GPU_CHECK_BUDGET_S must be a number of seconds, got {os.environ['GPU_CHECK_BUDGET_S']!r}")
    plan = stages(out)
    if args.dry_run:
        for stage in plan:
            stage.command = [sys.executable, "-c", f"print('dry run: {stage.name}')"]
    has_gpu = cuda_available() or os.environ.get("GPU_CHECK_PRETEND_GPU") == "1"
    print(f"gpu_check: {'a CUDA device' if has_gpu else 'no CUDA device'}, budget {budget:.0f} s, writing {out}")
    records = run_stages(plan, out, budget, has_gpu)
    (out / "summary.json").write_text(json.dumps(dict(budget_s=budget, stages=records), indent=1))
    summary = write_summary(out, records, budget)
    files = pack(out)
    print(f"gpu_check: wrote {', '.join(p.name for p in files)}; see {summary}")
    failed = [r["stage"] for r in records if r["status"].startswith("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
