"""Every Triton kernel builds real cubin for T4 (sm_75), A100 (sm_80) and H100 (sm_90) class GPUs, without a GPU."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("compile_for_gpu.py")


@pytest.mark.slow
def test_every_kernel_compiles_for_sm75_sm80_and_sm90(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = str(tmp_path)  # a cache hit would skip the compiler this test is about
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--arch", "75", "80", "90"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   kernels.lrn._lrn_forward_kernel bf16 sm_90" in result.stdout
    assert "ok   kernels.lrn._lrn_backward_kernel fp16 sm_75" in result.stdout
    assert "FAIL" not in result.stdout
