"""The static kernel report as a regression guard: loads per element may not grow past what the report records.

(Spills are guarded by the compile check: ``compile_for_gpu.py`` fails on any spilled byte on sm_75, sm_80 or
sm_90, but the one in its ALLOWED_SPILLS.)
"""

import json
import os
from pathlib import Path

import pytest

from ..conftest import load_script

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "benchmarks" / "results" / "kernel-report.json"


def _report_module():
    return load_script(ROOT / "benchmarks" / "kernel_report.py")


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1", reason="counts memory ops in Triton's interpreter")
def test_loads_per_element_stay_within_the_recorded_report():
    recorded = {row["kernel"]: row for row in json.loads(REPORT.read_text())["memory"]}
    measured = _report_module().measure_memory_ops()
    assert {row["kernel"] for row in measured} == set(recorded), "a kernel is missing from the committed report"
    for row in measured:
        before = recorded[row["kernel"]]
        # A margin for harmless changes; a kernel that goes back to re-reading windows blows far past it.
        assert row["loads_per_element"] <= 1.1 * before["loads_per_element"] + 0.5, (row, before)
        assert row["stores_per_element"] <= before["stores_per_element"] + 0.01, (row, before)


def test_the_committed_report_has_no_spills_and_covers_every_kernel():
    report = json.loads(REPORT.read_text())
    kernels_compiled = {row["kernel"] for row in report["compiled"]}
    assert kernels_compiled == {row["kernel"] for row in report["memory"]}
    assert {row["arch"] for row in report["compiled"]} == {80, 90}
    assert all(row["spill_stores"] == row["spill_loads"] == 0 for row in report["compiled"])


def test_the_backward_kernels_read_each_input_a_constant_number_of_times():
    memory = {row["kernel"].split(".")[-1]: row for row in json.loads(REPORT.read_text())["memory"]}
    # x three times and dy once (LRN); x three times, plus the <= 4 windows' positions and dy (fused).
    assert memory["_lrn_backward_kernel"]["loads_per_element"] <= 4.5
    assert memory["_relu_lrn_max_pool2d_backward_kernel"]["loads_per_element"] <= 6.0
