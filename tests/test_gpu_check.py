"""benchmarks/gpu_check.sh's plumbing, on the CPU: a typo here is caught before it costs GPU time.

Argument handling, stages skipped for want of a GPU or of budget, the summary writer on benchmark output shaped
like the real scripts', and the file count of OUTDIR. The stages' commands are replaced (--dry-run).
"""

import json
import subprocess
import sys
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

    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHON": sys.executable, **(env or {})}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


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


def test_a_stage_is_skipped_when_the_budget_cannot_cover_it_and_the_check_says_incomplete(tmp_path):
    result = _run(str(tmp_path / "o"), "--dry-run", env={"GPU_CHECK_BUDGET_S": "50", "GPU_CHECK_PRETEND_GPU": "1"})
    assert result.returncode == 3, result.stderr  # incomplete, not passed
    stages = {s["stage"]: s for s in json.loads((tmp_path / "o" / "summary.json").read_text())["stages"]}
    assert stages["bench_lrn"]["status"] == "passed"
    assert stages["kernel tests"]["status"] == "skipped"  # needs 60 s of the 50
    assert stages["kernel tests"]["reason"].startswith("budget:")
    summary = (tmp_path / "o" / "SUMMARY.md").read_text().splitlines()
    assert summary[2] == "**NOT RUN for want of budget: kernel tests.**"  # the first thing after the title
    assert "gpu_check: NOT RUN for want of budget: kernel tests." in result.stdout


def test_a_failing_stage_fails_the_check_and_a_slow_one_is_stopped(tmp_path):
    gpu_check = _module()
    plan = [
        gpu_check.Stage("ok", ["python3", "-c", "print('fine')"], 10, 0, needs_gpu=False),
        gpu_check.Stage("broken", ["python3", "-c", "raise SystemExit(3)"], 10, 0, needs_gpu=False),
        gpu_check.Stage("slow", ["python3", "-c", "import time; time.sleep(30)"], 1, 0, needs_gpu=False),
        gpu_check.Stage("data", ["python3", "-c", "1"], 10, 0, needs_gpu=False, needs=tmp_path / "missing.zip"),
    ]
    records = gpu_check.run_stages(plan, tmp_path, 60, has_gpu=False, log=lambda line: None)
    assert [r["status"] for r in records] == ["passed", "failed (exit 3)", "timed out", "skipped"]
    assert records[2]["reason"] == "stopped at its 1 s limit: results incomplete"
    assert records[3]["reason"].endswith("missing.zip is absent")
    code, line = gpu_check.verdict(records)
    assert code == gpu_check.EXIT_FAILED
    assert line == "**FAILED: broken; INCOMPLETE: slow stopped at the stage's time limit.**"


def test_a_stage_stopped_at_its_limit_makes_the_check_incomplete_and_ends_its_children(tmp_path):
    import os
    import time

    gpu_check = _module()
    pid_file = tmp_path / "child.pid"
    # The stage starts a child of its own, as pytest -n starts its workers: the stop must end that one too.
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    plan = [gpu_check.Stage("slow", [sys.executable, "-c", script], 2, 0, needs_gpu=False)]
    records = gpu_check.run_stages(plan, tmp_path, 60, has_gpu=False, log=lambda line: None)
    assert gpu_check.verdict(records) == (3, "**INCOMPLETE: slow stopped at the stage's time limit.**")
    text = gpu_check.write_summary(tmp_path, records, 60).read_text()
    assert "| slow | **timed out** |" in text
    child = int(pid_file.read_text())
    for _ in range(50):  # reaped by init once killed
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(child, 9)
        raise AssertionError("the stage's child outlived the stop")


def test_skips_for_want_of_a_gpu_or_of_data_leave_the_check_complete():
    gpu_check = _module()
    records = [dict(stage="environment", status="passed"),
               dict(stage="bench", status="skipped", reason="no CUDA device"),
               dict(stage="data", status="skipped", reason="/x.zip is absent")]  # fmt: skip
    assert gpu_check.verdict(records) == (0, "**Complete**: every stage that could run here passed.")


def test_the_gpu_plan_compiles_in_parallel_and_puts_kernel_correctness_first(tmp_path, monkeypatch):
    gpu_check = _module()
    monkeypatch.setattr(gpu_check, "xdist_workers", lambda on_cpu: 8)
    plan = gpu_check.stages(tmp_path)
    names = [s.name for s in plan]
    assert names[:6] == ["environment", "copy bandwidth", "kernel tests", "bench_lrn", "bench_maxpool", "bench_fused"]
    assert names[6] == "bench_train"
    kernel = plan[2]
    assert kernel.command[kernel.command.index("-n") + 1] == "8" and "TRITON_INTERPRET" not in kernel.env
    assert "-x" not in kernel.command  # every failure reported, not just the first
    figure1 = plan[-1].command
    assert figure1[figure1.index("--device") + 1] == "cuda" and figure1[figure1.index("--subset") + 1] == "10000"
    monkeypatch.setattr(gpu_check, "xdist_workers", lambda on_cpu: 1)
    assert "-n" not in gpu_check.stages(tmp_path)[2].command  # no pytest-xdist: one process


def test_the_cpu_plan_runs_the_real_commands_small_and_without_a_gpu(tmp_path):
    gpu_check = _module()
    plan = {s.name: s for s in gpu_check.stages(tmp_path, on_cpu=True)}
    assert plan["copy bandwidth"].needs_gpu  # CUDA events: nothing to measure on a CPU
    others = [s for name, s in plan.items() if name not in ("environment", "copy bandwidth")]
    assert not any(s.needs_gpu for s in others)
    assert plan["kernel tests"].env == {"TRITON_INTERPRET": "1"}
    for name in ("bench_lrn", "bench_maxpool", "bench_fused", "bench_train", "bench_parallel"):
        command = plan[name].command
        assert command[command.index("--reps") + 1] == "2", name
    figure1 = plan["figure1 (2-minute sweep)"].command
    assert figure1[figure1.index("--device") + 1] == "cpu" and figure1[figure1.index("--max-epochs") + 1] == "1"


def test_kernel_test_counts_come_from_the_junit_report_with_opinfo_apart(tmp_path):
    gpu_check = _module()
    (tmp_path / "kernel-tests.xml").write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.kernels.test_lrn" name="a"/>'
        '<testcase classname="tests.kernels.test_lrn" name="b"><failure message="wrong"/></testcase>'
        '<testcase classname="tests.kernels.test_opinfo" name="c"/>'
        '<testcase classname="tests.kernels.test_opinfo" name="d"><skipped message="expecttest is not installed"/>'
        "</testcase></testsuite></testsuites>"
    )
    counts = gpu_check.test_counts(tmp_path / "kernel-tests.xml")
    assert counts["all"] == dict(passed=2, failed=1, skipped=1)
    assert counts["opinfo"] == dict(passed=1, failed=0, skipped=1)
    assert counts["opinfo_skip_reasons"] == ["expecttest is not installed"]
    text = gpu_check.write_summary(tmp_path, [], 480).read_text()
    assert "Kernel tests: 2 passed, 1 failed, 1 skipped; of them PyTorch's OpInfo samples: 1 passed" in text
    assert gpu_check.test_counts(tmp_path / "absent.xml") is None


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
    assert "copy bandwidth: 4100 GB/s" in text and "| 50 | 49 | 51 | None | 2560 |" in text  # 4 significant digits


@pytest.mark.parametrize("budget", ["soon", "-"])
def test_a_bad_budget_is_a_clear_error(tmp_path, budget):
    result = _run(str(tmp_path / "o"), "--dry-run", env={"GPU_CHECK_BUDGET_S": budget})
    assert result.returncode == 2 and "GPU_CHECK_BUDGET_S must be a number of seconds" in result.stderr


# ----------------------------------------------------------------------------------------------- before and after


def _wheel(folder: Path, name: str, version: str, source: str) -> Path:
    """A minimal pure-Python wheel, as pip installs it (one module, its dist-info)."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}.py", source)
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return path


def test_wheels_in_whl_are_installed_first_and_imported_by_the_stages(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "expecttest", "9.9.9", "__version__ = '9.9.9-prepared'\n")
    result = _run("--environment", str(tmp_path / "env.json"), env={"GPU_CHECK_WHEELS": str(wheels)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gpu_check: installed expecttest-9.9.9-py3-none-any.whl into" in result.stdout
    env = json.loads((tmp_path / "env.json").read_text())
    assert env["expecttest"] == "9.9.9-prepared"  # the prepared copy, ahead of any installed one
    assert "alexnet-lab-wheels" in env["expecttest_from"]


def test_a_broken_wheel_is_reported_and_the_check_goes_on(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "broken-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    result = _run("--environment", str(tmp_path / "env.json"), env={"GPU_CHECK_WHEELS": str(wheels)})
    assert result.returncode == 0 and (tmp_path / "env.json").is_file()
    assert "could not install the wheels" in result.stderr


def test_help_gives_the_whole_procedure():
    result = _run("--help")
    assert result.returncode == 0
    module = _module()
    lines = ["make gpu-check OUT=DIR", "bash benchmarks/gpu_check.sh --prepare", module.RUN, module.FOLD,
              "3 a stage stopped at its time limit"]  # fmt: skip
    for needed in lines:
        assert needed in result.stdout, needed


def test_the_docs_give_the_same_commands_as_the_script():
    module = _module()
    page = (ROOT / "docs" / "gpu.md").read_text()
    for command in ("make gpu-check OUT=DIR", module.RUN, module.FOLD, "bash benchmarks/gpu_check.sh --prepare"):
        assert f"`{command}`" in page, command
    assert "make gpu-check" in (ROOT / "README.md").read_text()


def test_make_gpu_check_names_the_missing_output_folder():
    result = subprocess.run(["make", "-s", "gpu-check"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "OUT=DIR is required" in result.stderr


def test_the_prepared_folders_are_ignored_by_git():
    ignored = subprocess.run(["git", "check-ignore", ".whl/x.whl", ".gpu-data/x.zip"], cwd=ROOT, capture_output=True,
                             text=True)  # fmt: skip
    assert ignored.stdout.split() == [".whl/x.whl", ".gpu-data/x.zip"]


def _fake_cifar(path: Path, per_class: int) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for split in ("train", "test"):
            for cls in ("cat", "dog"):
                for i in range(per_class):
                    zf.writestr(f"{split}/{cls}/{i:04d}.jpg", f"{split}{cls}{i}")


def test_the_cifar_subset_keeps_the_layout_and_the_first_images_of_each_class(tmp_path):
    gpu_check = _module()
    _fake_cifar(tmp_path / "full.zip", 5)
    n = gpu_check.cifar_subset(tmp_path / "full.zip", tmp_path / "sub.zip", dict(train=3, test=1))
    with zipfile.ZipFile(tmp_path / "sub.zip") as zf:
        names = zf.namelist()
    assert n == len(names) == 8
    assert "train/cat/0002.jpg" in names and "train/cat/0003.jpg" not in names and "test/dog/0000.jpg" in names
    (tmp_path / "flat.zip").write_bytes(b"")
    with zipfile.ZipFile(tmp_path / "flat.zip", "w") as zf:
        zf.writestr("cat/0.jpg", "x")
    with pytest.raises(ValueError, match="expected train/<class>"):
        gpu_check.cifar_subset(tmp_path / "flat.zip", tmp_path / "bad.zip")
    assert not (tmp_path / "bad.zip").exists()


SHARED = ROOT.parent / "shared" / "data"


@pytest.mark.skipif(not (SHARED / "cifar10-jpg.zip").is_file() or not (SHARED / "imagenet-samples-256.zip").is_file(),
                    reason=f"the lab's data is not at {SHARED} (a fresh clone has no ../shared/data)")  # fmt: skip
def test_the_real_subsets_are_read_by_the_labs_loaders_and_are_small(tmp_path, monkeypatch):
    gpu_check = _module()
    from alexnet.data import cifar10, find_images, resolve_folder

    monkeypatch.setenv("ALEXNET_LAB_CACHE", str(tmp_path / "cache"))
    assert gpu_check.cifar_subset(SHARED / "cifar10-jpg.zip", tmp_path / "c.zip") == 11_000
    assert gpu_check.samples_subset(SHARED / "imagenet-samples-256.zip", tmp_path / "s.zip") == 512
    train = cifar10(tmp_path / "c.zip", train=True)
    assert len(train) == 10_000 and train.classes[0] == "airplane"
    samples, classes = find_images(resolve_folder(tmp_path / "s.zip"))
    assert len(samples) == 512 and len(classes) == 512
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    for name in ("c.zip", "s.zip"):
        (tmp_path / name).rename(prepared / name)
    assert gpu_check.copy_size([prepared]) - gpu_check.copy_size([]) < 32 * 2**20


def _check_output(folder: Path, device: str = "NVIDIA H200") -> Path:
    folder.mkdir()
    (folder / "SUMMARY.md").write_text(f"# GPU check: {device}\n\n**Complete**: ...\n")
    (folder / "summary.json").write_text("{}")
    with zipfile.ZipFile(folder / "results.zip", "w") as zf:
        zf.writestr("bench/lrn-nvidia-h200.json", "{}")
        zf.writestr("logs/bench_lrn.log", "log")
    return folder


def test_fold_copies_the_results_in_and_never_over_a_committed_one(tmp_path):
    gpu_check = _module()
    folder, results = _check_output(tmp_path / "files"), tmp_path / "results"
    results.mkdir()
    lines = []
    assert gpu_check.fold(folder, results=results, log=lines.append) == 0
    assert sorted(p.name for p in results.iterdir()) == ["gpu-check-nvidia-h200.json", "gpu-check-nvidia-h200.md",
                                                         "lrn-nvidia-h200.json"]  # fmt: skip
    (results / "lrn-nvidia-h200.json").write_text("committed")
    assert gpu_check.fold(folder, results=results, log=lines.append) == 2
    assert "pass --overwrite" in lines[-1] and (results / "lrn-nvidia-h200.json").read_text() == "committed"
    assert gpu_check.fold(folder, overwrite=True, results=results, log=lines.append) == 0
    assert (results / "lrn-nvidia-h200.json").read_text() == "{}"
    assert gpu_check.fold(tmp_path, results=results, log=lines.append) == 2
    assert "holds no SUMMARY.md and results.zip" in lines[-1]


def test_a_benchmark_timed_once_reports_that_run_without_a_spread():
    import torch

    common = load_script(ROOT / "benchmarks" / "_common.py")
    once = common.time_ms(lambda: None, torch.device("cpu"), reps=1)  # crashed with StatisticsError before
    assert once["runs"] == 1 and once["ms"] == once["ms_p20"] == once["ms_p80"]
    twice = common.time_ms(lambda: None, torch.device("cpu"), reps=2)
    assert twice["runs"] == 2 and twice["ms_p20"] <= twice["ms_p80"]
    with pytest.raises(ValueError, match="reps must be at least 1"):
        common.time_ms(lambda: None, torch.device("cpu"), reps=0)


def test_a_benchmark_keeps_a_result_already_saved_unless_told_to_overwrite(tmp_path):
    import os

    import torch

    from alexnet.experiments._results import cpu_model

    cpu = torch.device("cpu")
    common = load_script(ROOT / "benchmarks" / "_common.py")
    assert common.device_name(cpu).startswith(f"{cpu_model()} ({torch.backends.cpu.get_cpu_capability()}) x")
    common.RESULTS = tmp_path
    saved = common.save("lrn", cpu, [dict(ms=1.0)], {})
    assert saved.parent == tmp_path and saved.name == f"lrn-{common.slug(common.device_name(cpu))}.json"
    with pytest.raises(SystemExit, match="exists .* pass --overwrite"):
        common.save("lrn", cpu, [dict(ms=2.0)], {})
    assert json.loads(saved.read_text())["rows"] == [dict(ms=1.0)]
    common.save("lrn", cpu, [dict(ms=2.0)], {}, overwrite=True)
    assert json.loads(saved.read_text())["rows"] == [dict(ms=2.0)]
    # From the command line: refused in one line before anything is measured, the file untouched.
    (tmp_path / saved.name.replace("lrn-", "fused-memory-")).write_text("committed")
    env = {**os.environ, "ALEXNET_BENCH_OUT": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("TRITON_INTERPRET", None)
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_fused.py"), "--skip-time"], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 1 and run.stderr.strip().count("\n") == 0 and "pass --overwrite" in run.stderr
    assert (tmp_path / saved.name.replace("lrn-", "fused-memory-")).read_text() == "committed"
