"""Where each backend can run on this machine, and the tolerances every kernel test shares."""

import functools
import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

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


# ------------------------------------------------------------------------------ implementations under test

OPS = {"lrn": "lrn", "pool": "max_pool2d", "fused": "relu_lrn_max_pool2d"}  # option prefix -> kernels' name
# `pytest tests/kernels -x` stops at the first failure: the conformance checks (the common mistakes, quickly
# and by name) come first, the compile check (a minute of compiling) last.
ORDER = ["test_testing.py", "test_conformance.py", "test_lrn.py", "test_maxpool.py", "test_fused.py",
         "test_backends.py", "test_transforms.py", "test_compat.py", "test_kernel_report.py", "test_opinfo.py",
         "test_gpu.py", "test_compile_for_gpu.py"]


class Impl(NamedTuple):
    """An implementation the conformance tests grade: the callable, the device its inputs go to, a name."""

    fn: Callable
    device: str
    name: str


def load_impl(spec: str, option: str) -> Callable:
    """``module:function`` (or a path ``dir/file.py:function``) -> the callable, with a one-line error."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise pytest.UsageError(f"{option} must be MODULE:FUNCTION (e.g. tests.kernels.torch_impls:lrn), got {spec!r}")
    try:
        if module_name.endswith(".py"):
            from .. import conftest as root

            module = root.load_script(Path(module_name).resolve())
        else:
            module = importlib.import_module(module_name)
    except (ImportError, OSError) as err:
        raise pytest.UsageError(f"{option}: cannot import {module_name!r}: {err}") from err
    if not callable(getattr(module, attr, None)):
        raise pytest.UsageError(f"{option}: {module_name!r} has no function {attr!r}")
    return getattr(module, attr)


def _impls(config, op: str) -> list[Impl]:
    spec = config.getoption(f"{op}_impl")
    if spec:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        return [Impl(load_impl(spec, f"--{op}-impl"), device, spec)]
    import kernels

    fn = getattr(kernels, OPS[op])
    return [Impl(functools.partial(fn, backend=backend), device, f"{device}-{backend}") for device, backend in TARGETS]


def pytest_generate_tests(metafunc):
    for op in OPS:
        if f"{op}_impl" in metafunc.fixturenames:
            impls = _impls(metafunc.config, op)
            metafunc.parametrize(f"{op}_impl", impls, ids=[impl.name for impl in impls])


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    chosen = [op for op in OPS if config.getoption(f"{op}_impl")]
    if chosen:  # grade only the given implementations: the lab's own tests are about the lab's kernels

        def keep(item) -> bool:
            conformance = item.path.name == "test_conformance.py"
            return item.path.parent != here or (conformance and any(f"{op}_impl" in item.fixturenames for op in chosen))

        deselected = [item for item in items if not keep(item)]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if keep(item)]
    slots = [i for i, item in enumerate(items) if item.path.parent == here]
    ranked = sorted((items[i] for i in slots), key=lambda item: ORDER.index(item.path.name)
                    if item.path.name in ORDER else len(ORDER))  # fmt: skip
    for i, item in zip(slots, ranked):
        items[i] = item
