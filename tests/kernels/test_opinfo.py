"""Our kernels against PyTorch's own test suite: the OpInfo samples and error inputs of the ops they replace.

The samples come from ``torch.testing._internal.common_methods_invocations`` (PyTorch's OpInfo database, which
needs ``expecttest``): 1,440 ``nn.functional.max_pool2d`` calls per dtype (every kernel size, stride, padding,
dilation, ``ceil_mode``, 3-D and non-contiguous inputs), the same for ``max_pool2d_with_indices_backward``, and
``nn.functional.local_response_norm``'s. For each we compare values, indices and gradients with PyTorch, and for
each error input check that we refuse it too.

Cost: every sample on the torch backend; through Triton's interpreter (a few ms per program) a deterministic
slice of them; every sample on the compiled kernels when a GPU is present (``gpu`` marker).

    TRITON_INTERPRET=1 python -m tests.kernels.test_opinfo   # samples tried / matched per op, dtype, backend
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

import kernels

pytest.importorskip("expecttest", reason="PyTorch's OpInfo database needs expecttest (pip install -e '.[test]')")
from torch.testing._internal.common_methods_invocations import op_db  # noqa: E402

from .conftest import TOLERANCES  # noqa: E402

DTYPES = [torch.float64, torch.float32, torch.bfloat16, torch.float16]
# Every 10th max-pooling sample through the interpreter (144 per dtype, about 8 s each), all of LRN's;
# OPINFO_EVERY=1 runs them all (about 12 minutes on 2 cores).
INTERPRETER_STRIDE = int(os.environ.get("OPINFO_EVERY", "10"))
OPINFO = {info.name: info for info in op_db}


def _targets():
    """(device, backend, how many samples: None = all) for this machine."""
    targets = [("cpu", "torch", None)]
    if os.environ.get("TRITON_INTERPRET") == "1":
        targets.append(("cpu", "triton", INTERPRETER_STRIDE))
    if torch.cuda.is_available():
        targets.append(("cuda", "triton", None))
    return targets


def _samples(op_name: str, dtype: torch.dtype, every: int | None):
    samples = list(OPINFO[op_name].sample_inputs("cpu", dtype, requires_grad=False))
    return samples if every is None else samples[::every]


def _pool_kwargs(sample) -> dict:
    kwargs = dict(sample.kwargs)
    kwargs.pop("return_indices", None)
    return kwargs


def _grad_out(shape, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)


def _close(actual, expected, dtype) -> bool:
    try:
        torch.testing.assert_close(actual.cpu(), expected.cpu(), **TOLERANCES[dtype], equal_nan=True)
    except AssertionError:
        return False
    return True


def check_max_pool2d(sample, dtype, device, backend) -> str | None:
    """None when ours matches F.max_pool2d on this sample (values, indices, gradient), else what differs."""
    x, kwargs = sample.input, _pool_kwargs(sample)
    x_t = x.detach().clone().requires_grad_()
    out_t, idx_t = F.max_pool2d(x_t, **kwargs, return_indices=True)
    dy = _grad_out(out_t.shape, dtype, seed=out_t.numel())
    (dx_t,) = torch.autograd.grad(out_t, x_t, dy)

    x_ours = x.detach().to(device).requires_grad_()
    out, idx = kernels.max_pool2d(x_ours, **kwargs, return_indices=True, backend=backend)
    (dx,) = torch.autograd.grad(out, x_ours, dy.to(device))
    if not torch.equal(out.cpu(), out_t.detach()):
        return "values"
    if not torch.equal(idx.cpu(), idx_t):
        return "indices"
    if not _close(dx, dx_t, dtype):
        return "gradient"
    return None


def check_max_pool2d_backward(sample, dtype, device, backend) -> str | None:
    """Our gradient of sum(max_pool2d(x)) against ATen's max_pool2d_with_indices_backward, as its OpInfo calls it."""
    expected = OPINFO["max_pool2d_with_indices_backward"].op(sample.input, *sample.args, **sample.kwargs)
    x = sample.input.detach().to(device).requires_grad_()
    out = kernels.max_pool2d(x, **_pool_kwargs(sample), backend=backend)
    (dx,) = torch.autograd.grad(out.sum(), x)
    return None if _close(dx, expected, dtype) else "gradient"


def check_local_response_norm(sample, dtype, device, backend) -> str | None:
    """Ours with alpha_over_size=True against F.local_response_norm: values and gradient."""
    x, (size,), kwargs = sample.input, sample.args, sample.kwargs
    hyper = dict(alpha=kwargs.get("alpha", 1e-4), beta=kwargs.get("beta", 0.75), k=kwargs.get("k", 1.0))
    x_t = x.detach().clone().requires_grad_()
    y_t = F.local_response_norm(x_t, size, **hyper)
    dy = _grad_out(y_t.shape, dtype, seed=y_t.numel())
    x_ours = x.detach().to(device).requires_grad_()
    y = kernels.lrn(x_ours, size, **hyper, alpha_over_size=True, backend=backend)
    if not _close(y, y_t.detach(), dtype):
        return "values"
    if x.numel() == 0:
        return None
    (dx_t,) = torch.autograd.grad(y_t, x_t, dy)
    (dx,) = torch.autograd.grad(y, x_ours, dy.to(device))
    return None if _close(dx, dx_t, dtype) else "gradient"


CHECKS = {
    "nn.functional.max_pool2d": check_max_pool2d,
    "max_pool2d_with_indices_backward": check_max_pool2d_backward,
    "nn.functional.local_response_norm": check_local_response_norm,
}


def run_samples(op_name, dtype, device, backend, every) -> tuple[int, list[str]]:
    """(samples tried, descriptions of those that did not match)."""
    every = None if op_name == "nn.functional.local_response_norm" else every  # 11 samples: all of them
    samples = _samples(op_name, dtype, every)
    failures = []
    for i, sample in enumerate(samples):
        what = CHECKS[op_name](sample, dtype, device, backend)
        if what is not None:
            shape = tuple(sample.input.shape)
            failures.append(f"sample {i}: {what} differ: input {shape}, {sample.args} {sample.kwargs}")
    return len(samples), failures


def _params():
    for device, backend, every in _targets():
        marks = [pytest.mark.gpu] if device == "cuda" else []
        for op_name in CHECKS:
            for dtype in DTYPES:
                name = f"{op_name.split('.')[-1]}-{str(dtype)[6:]}-{device}-{backend}"
                yield pytest.param(op_name, dtype, device, backend, every, id=name, marks=marks)


@pytest.mark.parametrize("op_name, dtype, device, backend, every", list(_params()))
def test_opinfo_samples_match_torch(op_name, dtype, device, backend, every):
    tried, failures = run_samples(op_name, dtype, device, backend, every)
    assert tried > 0
    assert not failures, f"{len(failures)} of {tried} samples differ:\n" + "\n".join(failures[:10])


@pytest.mark.parametrize("backend", sorted({backend for _, backend, _ in _targets()}))
def test_max_pool2d_error_inputs_are_refused_with_a_named_op(backend):
    device = "cuda" if backend == "triton" and torch.cuda.is_available() else "cpu"
    error_inputs = list(OPINFO["nn.functional.max_pool2d"].error_inputs(device))
    assert error_inputs
    for error_input in error_inputs:
        sample = error_input.sample_input
        with pytest.raises(error_input.error_type):  # PyTorch refuses it ...
            F.max_pool2d(sample.input, *sample.args, **sample.kwargs)
        with pytest.raises((ValueError, RuntimeError, TypeError), match="^max_pool2d: "):  # ... and so do we
            kernels.max_pool2d(sample.input, *sample.args, **sample.kwargs, backend=backend)


if __name__ == "__main__":
    print(f"torch {torch.__version__}; interpreter slice: every {INTERPRETER_STRIDE}th max-pooling sample")
    print("| op | dtype | device | backend | samples tried | matched |")
    print("| --- | --- | --- | --- | --- | --- |")
    for device, backend, every in _targets():
        for op_name in CHECKS:
            for dtype in DTYPES:
                tried, failures = run_samples(op_name, dtype, device, backend, every)
                print(f"| {op_name} | {str(dtype)[6:]} | {device} | {backend} | {tried} | {tried - len(failures)} |")
                for failure in failures[:5]:
                    print(f"|   | {failure} |")
