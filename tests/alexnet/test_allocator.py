"""alexnet._allocator: glibc keeps the memory a training step frees, so the next step does not fault it in again."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A step: six 20 MiB tensors alive at once, then freed, like a step's activations. glibc's own behaviour varies
# with the memory layout (its threshold moves with use; in two processes of three every step faulted all 30,720
# pages in again, in the third none did), so the script first fixes its static defaults (mmap and trim above
# 128 KiB: every step faults), then calls keep_freed_memory() and counts again.
STEPS = """
import ctypes, json, resource, torch
from alexnet._allocator import M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, keep_freed_memory
def faults_per_step(steps):
    faults = []
    for _ in range(steps):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        tensors = [torch.ones(5 * 2**20) for _ in range(6)]
        del tensors
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return faults
libc = ctypes.CDLL(None)
assert libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024) and libc.mallopt(M_TRIM_THRESHOLD, 128 * 1024)
before = faults_per_step(3)
kept = keep_freed_memory()
print(json.dumps(dict(before=before, kept=kept, after=faults_per_step(8))))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_kept_memory_is_not_faulted_in_again_by_the_next_steps():
    run = subprocess.run([sys.executable, "-c", STEPS], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert min(result["before"]) > 25_000, result  # 120 MiB of 4 KiB pages, every step
    assert result["kept"] and sum(result["after"][4:]) < 1000, result  # measured: 0 from the 3rd or 4th on


def test_training_commands_keep_freed_memory(monkeypatch):
    import alexnet.__main__ as cli

    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(True))
    monkeypatch.setitem(cli.COMMANDS, "train", lambda args: 0)
    monkeypatch.setitem(cli.COMMANDS, "evaluate", lambda args: 0)
    assert cli.main(["evaluate", "--weights", "x.pt", "--data", "demo"]) == 0 and calls == []
    assert cli.main(["train", "--model", "four-layer", "--data", "demo"]) == 0 and calls == [True]
