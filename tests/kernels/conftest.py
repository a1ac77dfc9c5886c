"""Where each backend can run on this machine, and the tolerances every kernel test shares."""

import os

import pytest
import torch

# (device, backend) pairs that run here. Triton on the CPU means Triton's interpreter.
TARGETS = [("cpu", "torch")]
if os.environ.get("TRITON_INTERPRET") == "1":
    TARGETS.append(("cpu", "triton"))
if torch.cuda.is_available():
    TARGETS.append(("cuda", "triton"))

# Output rounding dominates for half types: fp16 has an 11-bit significand, bf16 an 8-bit one.
TOLERANCES = {
    torch.float64: dict(rtol=1e-7, atol=1e-10),  # kernels take alpha, beta, k as fp32 scalars,
    torch.float32: dict(rtol=1e-5, atol=1e-6),
    torch.float16: dict(rtol=1e-3, atol=1e-3),
    torch.bfloat16: dict(rtol=1.6e-2, atol=1e-2),
}


@pytest.fixture(params=TARGETS, ids=[f"{d}-{b}" for d, b in TARGETS])
def target(request):
    """(device, backend) to run a kernel test on."""
    return request.param
