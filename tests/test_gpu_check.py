"""benchmarks/gpu_check.sh's plumbing, on the CPU: a typo here must not waste a GPU lease.

Argument handling, stages skipped for want of a GPU or of budget, the summary writer on benchmark output shaped
like the real scripts', and the file count of OUTDIR. The stages' commands are replaced (--dry-run).
"""

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from .conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def _module():
    return load_script(ROOT / "benchmarks" / "gpu_check.py")


def _run(*args, env=None, cwd=ROOT):
    import os

    return subprocess.run(["bash", str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})  # fmt: skip


def test_usage_without_outdir():
    result = _run()
    assert result.returncode == 2 and "usage: PYTHONPATH=. bash benchmarks/gpu_check.sh OUTDIR" in result.stderr


def test_refuses_a_non_empty_outdir(tmp_path):
    (tmp_path / "old.md").write_text("results")
    result = _run(str(tmp_path), "--dry-run")
    assert result.returncode == 2 and "is not an empty folder" in result.stderr
    assert (tmp_path / "old.md").read_text() == "results"


def test_dry_run_without_a_gpu_skips_the_gpu_stages_and_writes_three_files(tmp_path):
    out = tmp_path / "relative-out"
    result = _run("relative-out", "--dry-run", env={"GPU_CHECK_BUDGET_S": "60"}, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["SUMMARY.md", "results.zip", "summary.json"]
    stages = json.loads((out / "summary.json").read_text())["stages"]
    assert stages[0] == dict(stage="environment", status="passed", seconds=stages[0]["seconds"],
                             last_line="dry run: environment")  # fmt: skip
    assert all(s["status"] == "skipped" and s["reason"] == "no CUDA device" for s in stages[1:])
    assert "[" in result.stdout and "s] bench_lrn: skipped (no CUDA device)" in result.stdout  # elapsed per stage
    with zipfile.ZipFile(out / "results.zip") as zf:
        assert "logs/environment.log" in zf.namelist()


def test_a_stage_is_skipped_when_the_budget_cannot_cover_it(tmp_path):
    result = _run(str(tmp_path / "o"), "--dry-run", env={"GPU_CHECK_BUDGET_S": "50", "GPU_CHECK_PRETEND_GPU": "1"})
    assert result.returncode == 0, result.stderr
    stages = {s["stage"]: s for s in json.loads((tmp_path / "o" / "summary.json").read_text())["stages"]}
    assert stages["bench_lrn"]["status"] == "passed"
    assert stages["kernel tests on CUDA"]["status"] == "skipped"  # needs 60 s of the 50
    assert stages["kernel tests on CUDA"]["reason"].startswith("budget:")


def test_a_failing_stage_fails_the_check_and_a_slow_one_is_stopped(tmp_path):
    gpu_check = _module()
    plan = [
        gpu_check.Stage("ok", ["python3", "-c", "print('fine')"], 10, 0, needs_gpu=False),
        gpu_check.Stage("broken", ["python3", "-c", "raise SystemExit(3)"], 10, 0, needs_gpu=False),
        gpu_check.Stage("slow", ["python3", "-c", "import time; time.sleep(30)"], 1, 0, needs_gpu=False),
        gpu_check.Stage("data", ["python3", "-c", "1"], 10, 0, needs_gpu=False, needs=tmp_path / "missing.zip"),
    ]
    records = gpu_check.run_stages(plan, tmp_path, 60, has_gpu=False, log=lambda line: None)
    assert [r["status"] for r in records] == ["passed", "failed (exit 3)", "stopped at its 1 s limit", "skipped"]
    assert records[3]["reason"].endswith("missing.zip is absent")


def test_summary_fills_the_tables_from_the_benchmarks_output(tmp_path):
    gpu_check = _module()
    (tmp_path / "bench").mkdir()
    (tmp_path / "environment.json").write_text(json.dumps(dict(device="NVIDIA H200", torch="2.11", triton="3.6")))
    (tmp_path / "bandwidth.json").write_text(json.dumps(dict(copy_gbps=4100.0, bytes=2e9, runs=20)))
    row = dict(shape="128x96x55x55", dtype="float32", mode="forward", provider="triton", ms=0.2, ms_p20=0.19,
               ms_p80=0.21, runs=None, gbps=3000.0, pct_peak=62.5, pct_copy=73.2, speedup_vs_eager=2.0)  # fmt: skip
    (tmp_path / "bench" / "lrn-nvidia-h200.json").write_text(json.dumps(dict(meta={}, rows=[row])))
    train = dict(shape="batch 128", dtype="float32", mode="train step", provider="kernels=triton", ms=50.0,
                 ms_p20=49.0, ms_p80=51.0, runs=None, images_per_s=2560.0)  # fmt: skip
    (tmp_path / "bench" / "train-step-nvidia-h200.json").write_text(json.dumps(dict(meta={}, rows=[train])))
    records = [dict(stage="bench_lrn", status="passed", seconds=12.0, last_line="saved ...")]
    text = gpu_check.write_summary(tmp_path, records, 480).read_text()
    assert text.startswith("# GPU check: NVIDIA H200")
    assert "| 128x96x55x55 | float32 | forward | triton | 0.200 (0.190-0.210) | 3000.0 | 73.2 | 2.0 |" in text
    assert "copy bandwidth: 4100 GB/s" in text and "2560.0" in text


@pytest.mark.parametrize("budget", ["soon", "-"])
def test_a_bad_budget_is_a_clear_error(tmp_path, budget):
    result = _run(str(tmp_path / "o"), "--dry-run", env={"GPU_CHECK_BUDGET_S": budget})
    assert result.returncode == 2 and "GPU_CHECK_BUDGET_S must be a number of seconds" in result.stderr
