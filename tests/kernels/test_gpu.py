"""Only on a CUDA device (``gpu`` marker): shapes whose offsets pass 2**31, which the interpreter cannot afford.

The rest of the kernel suite runs on CUDA too when a GPU is present (``conftest.TARGETS``): compiled kernels,
fp32/fp16/bf16, determinism of the pooling backward, OpInfo's every sample.
"""

import pytest
import torch
import torch.nn.functional as F

import kernels

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _room_for(*tensor_bytes: int) -> None:
    free, _ = torch.cuda.mem_get_info()
    if sum(tensor_bytes) * 1.3 > free:
        pytest.skip(f"needs {sum(tensor_bytes) / 2**30:.1f} GiB of free GPU memory, {free / 2**30:.1f} GiB free")


def test_lrn_forward_and_backward_past_int32_offsets():
    shape = (2, 96, 3400, 3400)  # 2.2e9 elements: the last sample starts past 2**31
    numel = torch.Size(shape).numel()
    _room_for(*[numel * 2] * 4)
    x = torch.randn(shape, device="cuda", dtype=torch.float16).requires_grad_()
    y = kernels.lrn(x, backend="triton")
    (dx,) = torch.autograd.grad(y, x, torch.ones_like(y))
    corner = (slice(1, 2), slice(None), slice(-3, None), slice(-5, None))
    x_small = x.detach()[corner].float().requires_grad_()
    y_small = kernels.lrn(x_small, backend="torch")
    (dx_small,) = torch.autograd.grad(y_small, x_small, torch.ones_like(y_small))
    torch.testing.assert_close(y.detach()[corner].float(), y_small, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(dx[corner].float(), dx_small, rtol=1e-3, atol=1e-3)


def test_max_pool2d_past_int32_offsets():
    shape = (1, 64, 5800, 5800)  # 2.15e9 input elements
    numel = torch.Size(shape).numel()
    _room_for(numel * 2, numel * 2, numel // 2)
    x = torch.randn(shape, device="cuda", dtype=torch.float16).requires_grad_()
    out, idx = kernels.max_pool2d(x, return_indices=True, backend="triton")
    (dx,) = torch.autograd.grad(out, x, torch.ones_like(out))
    corner = (slice(None), slice(-2, None), slice(-10, None), slice(-10, None))  # windows start at even rows
    ref = F.max_pool2d(x.detach()[corner], 3, 2)
    assert torch.equal(out.detach()[:, -2:, -4:, -4:], ref)
    assert 5796 * 5800 <= idx[0, -1, -1, -1].item() < 5800 * 5800  # in the last window, past 2**24
    x_small = x.detach()[corner].clone().requires_grad_()
    (dx_small,) = torch.autograd.grad(F.max_pool2d(x_small, 3, 2), x_small, torch.ones_like(ref))
    # The slice's first row and column also belong to windows outside it.
    torch.testing.assert_close(dx[corner][..., 1:, 1:], dx_small[..., 1:, 1:])


def test_fused_backward_past_int32_offsets():
    shape = (2, 96, 3400, 3400)
    numel = torch.Size(shape).numel()
    _room_for(numel * 2, numel * 2, numel // 2)
    x = torch.randn(shape, device="cuda", dtype=torch.float16).requires_grad_()
    out = kernels.relu_lrn_max_pool2d(x, backend="triton")
    (dx,) = torch.autograd.grad(out, x, torch.ones_like(out))
    corner = (slice(1, 2), slice(None), slice(-10, None), slice(-10, None))  # windows start at even rows
    x_small = x.detach()[corner].float().requires_grad_()
    ref = F.max_pool2d(kernels.lrn(torch.relu(x_small), backend="torch"), 3, 2)
    (dx_small,) = torch.autograd.grad(ref, x_small, torch.ones_like(ref))
    torch.testing.assert_close(out.detach()[1:, :, -4:, -4:].float(), ref, rtol=2e-3, atol=2e-3)
    torch.testing.assert_close(dx[corner][..., 1:, 1:].float(), dx_small[..., 1:, 1:], rtol=2e-2, atol=2e-2)

