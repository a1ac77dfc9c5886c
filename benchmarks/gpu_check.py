"""The whole GPU validation in one command: kernel tests on CUDA, the benchmarks, and a short Figure 1 sweep.

Runs on any CUDA machine, a bare offline one included: the lab's venv where there is one, else the system
``python3`` with torch, triton, pytest, pytest-xdist, hypothesis, numpy, matplotlib, pillow, tqdm and scikit-image.
Run it from the repository root as ``make gpu-check OUT=DIR`` or ``PYTHONPATH=. bash benchmarks/gpu_check.sh DIR``
(the shell script installs the wheels in ``.whl/``, if any, then calls this file). ``bash benchmarks/gpu_check.sh
--help`` gives the whole procedure: preparing an offline machine (``--prepare``), the check, and filing its results
in the repository (``--fold``).

Stages run in order of what matters most (kernel correctness on CUDA, then the kernel benchmarks, then the
training step), each under a time limit; a stage is skipped (and says why) when there is no CUDA device or when
the total budget (``GPU_CHECK_BUDGET_S``, default 480 s) cannot cover its minimum. Every stage's elapsed time is
printed as it ends. A stage stopped at its limit is ``timed out``: its results are incomplete, the summary says so
at the top, and the check exits 3 (1 when a stage failed, 0 when every stage that could run passed). OUTDIR
receives three files, small enough to copy back: ``SUMMARY.md`` (the README's tables, filled), ``summary.json``
(every stage's status and figures) and ``results.zip`` (every log, JSON, CSV and PNG the stages wrote).

``--cpu`` runs every stage's real command that can run without a GPU, on the CPU, with small settings (the kernel
tests through Triton's interpreter, the benchmarks with ``--reps 2``, one epoch of the sweep): what
``tools/oldest_supported.sh`` uses to try the check on the oldest supported releases. ``--dry-run`` replaces every
stage's command with a trivial one (CI runs it, so a typo here is caught before it costs GPU time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEELS = ROOT / ".whl"  # wheels an offline machine may lack, copied along with the checkout; git ignores it
GPU_DATA = ROOT / ".gpu-data"  # subsets of the lab's data, small enough to copy along; git ignores it
MISSING_WHEELS = {"expecttest": "0.3.0"}  # PyTorch's OpInfo database imports it; a bare torch install lacks it
CIFAR_SUBSET = dict(train=1000, test=100)  # images per class: 11,000 files, about 11 MB
SAMPLES_SUBSET = 512  # bench_data's --images


def _shared(name: str) -> Path:
    """The lab's data file, inside the tree (``shared/data``) or beside it (``../shared/data``)."""
    for folder in (ROOT / "shared" / "data", ROOT.parent / "shared" / "data"):
        if (folder / name).is_file():
            return folder / name
    return ROOT / "shared" / "data" / name


def _data(subset: str, full: str) -> Path:
    """The prepared subset when it is there (an offline machine), else the lab's full file."""
    return GPU_DATA / subset if (GPU_DATA / subset).is_file() else _shared(full)


CIFAR_ZIP = _data("cifar10-subset.zip", "cifar10-jpg.zip")
SAMPLES_ZIP = _data(f"imagenet-samples-{SAMPLES_SUBSET}.zip", "imagenet-samples-256.zip")
DEFAULT_BUDGET_S = 480.0
DEFAULT_CPU_BUDGET_S = 3600.0
EXIT_FAILED, EXIT_INCOMPLETE = 1, 3


@dataclass
class Stage:
    name: str
    command: list[str]
    limit_s: float  # the stage is stopped after this long (its partial output is kept)
    min_s: float  # skipped when less than this is left of the budget
    needs_gpu: bool = True
    needs: Path | None = None  # skipped when this file is absent (the lab's data)
    env: dict = field(default_factory=dict)


def xdist_workers(on_cpu: bool) -> int:
    """pytest-xdist processes for the kernel tests: compiling ~300 specialisations one after another takes longer
    than the stage's limit, so they compile in parallel (at most 8, and no more than the machine's cores)."""
    try:
        import xdist  # noqa: F401
    except ImportError:
        return 1
    return min(os.cpu_count() or 1, 2 if on_cpu else 8)


def stages(out: Path, on_cpu: bool = False) -> list[Stage]:
    """The plan. On a GPU the benchmarks' own defaults; with ``on_cpu`` the same commands, small."""
    py = sys.executable
    bench = dict(ALEXNET_BENCH_OUT=str(out / "bench"))
    reps = ["--reps", "2" if on_cpu else "10"]
    workers = xdist_workers(on_cpu)
    kernel_tests = [py, "-m", "pytest", "tests/kernels", "-q", "-p", "no:cacheprovider", "-m", "not slow",
                    "--maxfail=25", f"--junitxml={out / 'kernel-tests.xml'}"]  # fmt: skip
    if workers > 1:
        kernel_tests += ["-n", str(workers)]
    figure1 = [py, "-m", "alexnet", "relu-vs-tanh", "--recipe", "cuda-convnet", "--data", str(CIFAR_ZIP), "--quiet",
               "--out", str(out / "figure1")]  # fmt: skip
    if on_cpu:
        figure1 += ["--device", "cpu", "--lrs", "0.002", "--seeds", "1", "--max-epochs", "1", "--subset", "2000"]
    else:
        figure1 += ["--device", "cuda", "--lrs", "0.001", "0.002", "0.004", "--seeds", "1", "--max-epochs", "40",
                    "--subset", "10000"]
    cpu = dict(needs_gpu=not on_cpu)
    scale = 6 if on_cpu else 1  # limits on 2 CPU cores
    return [
        Stage("environment", [py, str(Path(__file__)), "--environment", str(out / "environment.json")], 30, 5, False),
        Stage("copy bandwidth", [py, str(Path(__file__)), "--bandwidth", str(out / "bandwidth.json")], 30, 5),
        Stage("kernel tests", kernel_tests, 200 * scale, 60, env={"TRITON_INTERPRET": "1"} if on_cpu else {}, **cpu),
        Stage("bench_lrn", [py, "benchmarks/bench_lrn.py", *reps], 45 * scale, 15, env=bench, **cpu),
        Stage("bench_maxpool", [py, "benchmarks/bench_maxpool.py", *reps], 35 * scale, 10, env=bench, **cpu),
        Stage("bench_fused", [py, "benchmarks/bench_fused.py", *reps], 45 * scale, 15, env=bench, **cpu),
        Stage("bench_train", [py, "benchmarks/bench_train.py", *reps], 60 * scale, 20, env=bench, **cpu),
        Stage("bench_parallel", [py, "benchmarks/bench_parallel.py", *reps, *["--batch", "8"] * on_cpu],
              40 * scale, 15, env=bench, **cpu),
        Stage("bench_data", [py, "benchmarks/bench_data.py", "--data", str(SAMPLES_ZIP), "--images",
                             str(SAMPLES_SUBSET), *["--threads", "2"] * on_cpu], 40 * scale, 15, needs=SAMPLES_ZIP,
              env=bench, **cpu),
        Stage("figure1 (2-minute sweep)", figure1, 120 * scale, 40, needs=CIFAR_ZIP, **cpu),
    ]  # fmt: skip


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def run_stages(plan: list[Stage], out: Path, budget_s: float, has_gpu: bool, log=print) -> list[dict]:
    """Run each stage (or skip it, saying why) within the budget; return one record per stage.

    A record's status is ``passed``, ``failed (exit N)``, ``timed out`` (stopped at its limit: incomplete) or
    ``skipped`` (with the reason: no CUDA device, absent data, or the budget).
    """
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
        record = dict(stage=stage.name)
        with log_path.open("w") as log_file:
            # Its own process group, so a stop at the limit also ends what it started (pytest-xdist's workers).
            process = subprocess.Popen(stage.command, cwd=ROOT, env={**env, **stage.env}, stdout=log_file,
                                       stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
            try:
                code = process.wait(timeout=limit)
                record["status"] = "passed" if code == 0 else f"failed (exit {code})"
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                record.update(status="timed out", reason=f"stopped at its {limit:.0f} s limit: results incomplete")
        seconds = time.perf_counter() - began
        tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        record.update(seconds=round(seconds, 1), last_line=tail[0][-300:])
        records.append(record)
        log(f"[{time.perf_counter() - start:6.1f} s] {stage.name}: {record['status']} in {seconds:.1f} s")
    return records


def verdict(records: list[dict]) -> tuple[int, str]:
    """The exit code and the summary's first line: failures, then stops at a limit and budget skips."""
    failed = [r["stage"] for r in records if r["status"].startswith("failed")]
    stopped = [r["stage"] for r in records if r["status"] == "timed out"]
    squeezed = [r["stage"] for r in records if r["status"] == "skipped" and r["reason"].startswith("budget")]
    parts = []
    if failed:
        parts.append(f"FAILED: {', '.join(failed)}")
    if stopped:
        parts.append(f"INCOMPLETE: {', '.join(stopped)} stopped at the stage's time limit")
    if squeezed:
        parts.append(f"NOT RUN for want of budget: {', '.join(squeezed)}")
    if not parts:
        return 0, "**Complete**: every stage that could run here passed."
    return (EXIT_FAILED if failed else EXIT_INCOMPLETE), "**" + "; ".join(parts) + ".**"


def test_counts(junit: Path) -> dict | None:
    """Passed / failed / skipped from pytest's JUnit XML, overall and for PyTorch's OpInfo samples."""
    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError):
        return None
    counts = {"all": dict(passed=0, failed=0, skipped=0), "opinfo": dict(passed=0, failed=0, skipped=0)}
    skip_reasons = set()
    for case in root.iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped":
                outcome = "skipped"
                if "opinfo" in case.get("classname", ""):
                    skip_reasons.add((child.get("message") or "")[:200])
        counts["all"][outcome] += 1
        if "opinfo" in case.get("classname", ""):
            counts["opinfo"][outcome] += 1
    counts["opinfo_skip_reasons"] = sorted(skip_reasons)
    return counts


# ----------------------------------------------------------------------------------------------- summary


def _load_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


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


def write_summary(out: Path, records: list[dict], budget_s: float, on_cpu: bool = False) -> Path:
    """SUMMARY.md from the stage records and whatever JSON the stages left in ``out``."""
    env = _load_json(out / "environment.json") or {}
    bandwidth = _load_json(out / "bandwidth.json") or {}
    mode = " --cpu" if on_cpu else ""
    lines = [
        f"# GPU check: {env.get('device') or ('CPU only' if on_cpu else 'no CUDA device')}",
        "",
        verdict(records)[1],
        "",
        f"`PYTHONPATH=. bash benchmarks/gpu_check.sh OUTDIR{mode}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"budget {budget_s:.0f} s. torch {env.get('torch', '?')}, triton {env.get('triton', '?')}, "
        f"torchvision {env.get('torchvision', '?')}, numpy {env.get('numpy', '?')}, "
        f"Python {env.get('python', platform.python_version())}.",
        "",
        "| stage | status | seconds | last line of its log |",
        "| --- | --- | --- | --- |",
    ]
    for r in records:
        detail = r.get("reason") or r.get("last_line", "")
        alarming = r["status"] not in ("passed", "skipped") or r.get("reason", "").startswith("budget")
        status = f"**{r['status']}**" if alarming else r["status"]
        lines.append(f"| {r['stage']} | {status} | {r['seconds']} | {detail.replace('|', '/')} |")
    counts = test_counts(out / "kernel-tests.xml")
    if counts:
        total, opinfo = counts["all"], counts["opinfo"]
        lines += ["", f"Kernel tests: {total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped; "
                      f"of them PyTorch's OpInfo samples: {opinfo['passed']} passed, {opinfo['failed']} failed, "
                      f"{opinfo['skipped']} skipped"
                      + (f" ({'; '.join(counts['opinfo_skip_reasons'])})" if counts["opinfo_skip_reasons"] else "")
                      + "."]  # fmt: skip
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
                lines += ["| " + " | ".join(_cell(r.get(k)) for k in keys) + " |" for r in rows]
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
    import importlib.util

    import numpy
    import torch

    info = dict(torch=torch.__version__, python=platform.python_version(), cuda=torch.version.cuda,
                numpy=numpy.__version__,
                device=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)  # fmt: skip
    for name in ("triton", "torchvision", "expecttest", "xdist"):
        try:
            module = __import__(name)
            info[name] = getattr(module, "__version__", "installed")
        except ImportError:
            info[name] = None
    info["expecttest_from"] = importlib.util.find_spec("expecttest").origin if info["expecttest"] else None
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


# ----------------------------------------------------------------------------------------------- before and after


RUN = "PYTHONUNBUFFERED=1 PYTHONPATH=. bash benchmarks/gpu_check.sh DIR"
FOLD = "python3 benchmarks/gpu_check.py --fold DIR"
PROCEDURE = f"""\
On a CUDA machine with the lab installed, from the repository root:
        make gpu-check OUT=DIR        (the same as: {RUN})
then, to file the results in the repository:
        {FOLD}
which copies SUMMARY.md to benchmarks/results/gpu-check-<device>.md (summary.json beside it) and the benchmarks'
JSON, CSV and PNG from results.zip to benchmarks/results/ (never over an existing file unless --overwrite).
Commit them with the device's name in the message.

An offline machine (no package index, no ../shared/data) takes two more steps:
 1. Where the lab's data and the package index are (../shared/data beside the repository):
        bash benchmarks/gpu_check.sh --prepare
    builds .whl/ (the wheels that machine may lack: expecttest, for PyTorch's OpInfo samples; CPython 3.12,
    x86-64) and .gpu-data/ (a CIFAR-10 subset of 1,000 training and 100 test images per class and 512 ImageNet
    samples, 27 MB together) to copy along with the checkout, and prints the size of the whole copy.
 2. Copy the checkout, .whl/ and .gpu-data/ included, to the CUDA machine; run the check there with
        {RUN}
    (the wheels are installed into a temporary folder first), and copy DIR back for --fold.

The check's own budget is GPU_CHECK_BUDGET_S=480 s. Exit status: 0 every stage that could run passed, 1 a stage
failed, 3 a stage stopped at its time limit or was not run for want of budget (the summary's first line says
which), 2 a usage error.
"""


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _write_zip_subset(dest: Path, members: list[zipfile.ZipInfo], source: zipfile.ZipFile) -> None:
    sys.path.insert(0, str(ROOT))
    from alexnet.files import atomic_write

    def write(f) -> None:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as out:
            for info in members:
                out.writestr(info.filename, source.read(info))

    atomic_write(dest, write)


def cifar_subset(src: Path, dest: Path, per_class: dict[str, int] = CIFAR_SUBSET) -> int:
    """The first ``per_class[split]`` images of each class of the lab's CIFAR-10 zip, same layout; returns the count."""
    with zipfile.ZipFile(src) as zf:
        groups: dict[tuple[str, str], list[zipfile.ZipInfo]] = {}
        for info in zf.infolist():
            parts = info.filename.split("/")
            if len(parts) >= 3 and not info.is_dir() and parts[-3] in per_class:
                groups.setdefault((parts[-3], parts[-2]), []).append(info)
        if {split for split, _ in groups} != set(per_class):
            raise ValueError(f"{src}: expected train/<class>/*.jpg and test/<class>/*.jpg inside, as the lab's zip has")
        members = [i for (split, _), infos in sorted(groups.items()) for i in sorted(infos, key=lambda i: i.filename)
                   [: per_class[split]]]  # fmt: skip
        _write_zip_subset(dest, members, zf)
    return len(members)


def samples_subset(src: Path, dest: Path, count: int = SAMPLES_SUBSET) -> int:
    """The first ``count`` images (in class order) of the lab's ImageNet samples zip, same layout."""
    with zipfile.ZipFile(src) as zf:
        images = sorted((i for i in zf.infolist() if not i.is_dir() and i.filename.lower().endswith((".jpeg", ".jpg"))),
                        key=lambda i: i.filename)[:count]  # fmt: skip
        if len(images) < count:
            raise ValueError(f"{src}: {len(images)} images inside, {count} needed")
        _write_zip_subset(dest, images, zf)
    return len(images)


def copy_size(extra: list[Path]) -> int:
    """Bytes of a copy of the checkout (tracked and untracked-but-not-ignored files) plus the ``extra`` folders."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.split(b"\0")  # fmt: skip
    files = [ROOT / os.fsdecode(name) for name in listed if name]
    files += [p for folder in extra if folder.is_dir() for p in folder.rglob("*")]
    return sum(p.stat().st_size for p in files if p.is_file())


def download_wheels(dest: Path, wheels: dict[str, str] = MISSING_WHEELS) -> list[Path]:
    """Wheels for an offline CUDA machine (CPython 3.12, x86-64), without their dependencies."""
    dest.mkdir(exist_ok=True)
    for name, version in wheels.items():
        if any(dest.glob(f"{name}-{version}-*.whl")):
            continue
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
                        "--platform", "manylinux2014_x86_64", "-d", str(dest), f"{name}=={version}"],
                       check=True)  # fmt: skip
    return sorted(dest.glob("*.whl"))


def prepare(log=print) -> int:
    cifar, samples = _shared("cifar10-jpg.zip"), _shared("imagenet-samples-256.zip")
    for path in (cifar, samples):
        if not path.is_file():
            log(f"gpu_check --prepare: {path} is absent (the lab's data, ../shared/data beside the repository)")
            return 2
    GPU_DATA.mkdir(exist_ok=True)
    n = cifar_subset(cifar, GPU_DATA / "cifar10-subset.zip")
    log(f"wrote {GPU_DATA / 'cifar10-subset.zip'}: {n} images")
    n = samples_subset(samples, GPU_DATA / f"imagenet-samples-{SAMPLES_SUBSET}.zip")
    log(f"wrote {GPU_DATA / f'imagenet-samples-{SAMPLES_SUBSET}.zip'}: {n} images")
    try:
        wheels = download_wheels(WHEELS)
    except subprocess.CalledProcessError:
        log(f"gpu_check --prepare: pip could not download {', '.join(MISSING_WHEELS)} (it needs the package index)")
        return 1
    log(f"wheels in {WHEELS}: {', '.join(p.name for p in wheels)}")
    size = copy_size([WHEELS, GPU_DATA])
    log(f"to copy: {size / 2**20:.1f} MiB, the checkout with {WHEELS.name}/ and {GPU_DATA.name}/")
    log(f"then, on the CUDA machine:\n    {RUN}")
    return 0


def fold(folder: Path, overwrite: bool = False, results: Path | None = None, log=print) -> int:
    """Copy a check's SUMMARY.md, summary.json and benchmark files into benchmarks/results/."""
    results = results or ROOT / "benchmarks" / "results"
    summary = folder / "SUMMARY.md"
    if not summary.is_file() or not (folder / "results.zip").is_file():
        log(f"gpu_check --fold: {folder} holds no SUMMARY.md and results.zip (the folder a check wrote)")
        return 2
    device = summary.read_text().splitlines()[0].removeprefix("# GPU check:").strip()
    copies = {results / f"gpu-check-{slug(device)}.md": summary.read_bytes(),
              results / f"gpu-check-{slug(device)}.json": (folder / "summary.json").read_bytes()}  # fmt: skip
    with zipfile.ZipFile(folder / "results.zip") as zf:
        for name in zf.namelist():
            if name.startswith("bench/") and not name.endswith("/"):
                copies[results / Path(name).name] = zf.read(name)
    existing = [p for p in copies if p.exists()]
    if existing and not overwrite:
        log(f"gpu_check --fold: would replace {', '.join(p.name for p in existing)}; pass --overwrite to replace them")
        return 2
    for path, data in copies.items():
        path.write_bytes(data)
        log(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bash benchmarks/gpu_check.sh", description=__doc__.split("\n\n")[0], epilog=PROCEDURE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("outdir", nargs="?", help="empty (or new) folder for SUMMARY.md, summary.json, results.zip")
    parser.add_argument("--cpu", action="store_true", help="run every stage that can run without a GPU, small")
    parser.add_argument("--dry-run", action="store_true", help="trivial stand-ins for every stage's command")
    parser.add_argument("--prepare", action="store_true", help="for an offline machine: .whl/ and .gpu-data/")
    parser.add_argument("--fold", metavar="DIR", help="copy a check's results into benchmarks/results/")
    parser.add_argument("--overwrite", action="store_true", help="with --fold: replace files already there")
    parser.add_argument("--environment", metavar="JSON", help=argparse.SUPPRESS)
    parser.add_argument("--bandwidth", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.environment:
        write_environment(Path(args.environment))
        return 0
    if args.bandwidth:
        measure_bandwidth(Path(args.bandwidth))
        return 0
    if args.prepare:
        return prepare()
    if args.fold:
        return fold(Path(args.fold), args.overwrite)
    if not args.outdir:
        parser.error("OUTDIR is required: PYTHONPATH=. bash benchmarks/gpu_check.sh OUTDIR")
    out = Path(args.outdir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        parser.error(f"{out} exists and is not an empty folder: results are never written over")
    default = DEFAULT_CPU_BUDGET_S if args.cpu else DEFAULT_BUDGET_S
    try:
        budget = float(os.environ.get("GPU_CHECK_BUDGET_S", default))
    except ValueError:
        parser.error(f"GPU_CHECK_BUDGET_S must be a number of seconds, got {os.environ['GPU_CHECK_BUDGET_S']!r}")
    out.mkdir(parents=True, exist_ok=True)
    plan = stages(out, on_cpu=args.cpu)
    if args.dry_run:
        for stage in plan:
            stage.command = [sys.executable, "-c", f"print('dry run: {stage.name}')"]
    has_gpu = cuda_available() or os.environ.get("GPU_CHECK_PRETEND_GPU") == "1"
    where = "on the CPU (--cpu)" if args.cpu else ("a CUDA device" if has_gpu else "no CUDA device")
    print(f"gpu_check: {where}, budget {budget:.0f} s, writing {out}")
    records = run_stages(plan, out, budget, has_gpu)
    code, line = verdict(records)
    (out / "summary.json").write_text(json.dumps(dict(budget_s=budget, cpu=args.cpu, exit=code, stages=records),
                                                 indent=1))  # fmt: skip
    summary = write_summary(out, records, budget, on_cpu=args.cpu)
    files = pack(out)
    print(f"gpu_check: wrote {', '.join(p.name for p in files)}; see {summary}")
    print(f"gpu_check: {line.replace('**', '')}")
    return code


if __name__ == "__main__":
    sys.exit(main())
