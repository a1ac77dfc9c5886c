"""Higher derivatives and torch.func transforms of every kernel, on every backend, against plain PyTorch.

A custom autograd.Function is where gradients go silently wrong: before these tests, ``create_graph=True``
through the Triton backend returned a gradient with ``requires_grad=False`` (a gradient penalty quietly
dropped), and ``vmap``/``jvp``/``jacrev`` raised torch's "must override the setup_context staticmethod".
"""

import pytest
import torch
import torch.nn.functional as F
from torch.func import grad, jacfwd, jacrev, jvp, vmap

import kernels

from .conftest import TARGETS

BACKENDS = [b for d, b in TARGETS if d == "cpu"]
HYPER = dict(size=3, alpha=0.1, beta=0.75, k=1.0)


def _ours(op, backend):
    if op == "lrn":
        return lambda t: kernels.lrn(t, **HYPER, backend=backend)
    if op == "max_pool2d":
        return lambda t: kernels.max_pool2d(t, 3, 2, backend=backend)
    return lambda t: kernels.relu_lrn_max_pool2d(t, **HYPER, backend=backend)


def _torch(op):
    """The same function in PyTorch's own ops (F.local_response_norm takes alpha / size)."""
    lrn = lambda t: F.local_response_norm(t, HYPER["size"], HYPER["alpha"] * HYPER["size"], HYPER["beta"], HYPER["k"])  # noqa: E731
    if op == "lrn":
        return lrn
    if op == "max_pool2d":
        return lambda t: F.max_pool2d(t, 3, 2)
    return lambda t: F.max_pool2d(lrn(torch.relu(t)), 3, 2)


def _input(shape, seed=0):
    # Distinct values far from 0 and from each other: max pooling and ReLU are smooth there, as gradcheck needs.
    gen = torch.Generator().manual_seed(seed)
    values = torch.randperm(torch.Size(shape).numel(), generator=gen).double() / 4 - 1.2
    return values.view(shape)


OPS = ["lrn", "max_pool2d", "relu_lrn_max_pool2d"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", OPS)
def test_double_backward_is_exact(op, backend):
    x = _input((1, 3, 5, 5)).requires_grad_()
    f = _ours(op, backend)
    (dx,) = torch.autograd.grad(f(x).pow(2).sum(), x, create_graph=True)
    assert dx.requires_grad  # the old Triton path returned a constant here
    assert torch.autograd.gradgradcheck(f, (x,))
    # A gradient penalty's gradient, against PyTorch's own ops.
    x_t = x.detach().requires_grad_()
    (dx_t,) = torch.autograd.grad(_torch(op)(x_t).pow(2).sum(), x_t, create_graph=True)
    (penalty_grad,) = torch.autograd.grad(dx.pow(2).sum(), x)
    (penalty_grad_t,) = torch.autograd.grad(dx_t.pow(2).sum(), x_t)
    torch.testing.assert_close(penalty_grad, penalty_grad_t)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", OPS)
def test_vmap_equals_a_loop(op, backend):
    xs = _input((3, 2, 4, 5, 5))
    expected = torch.stack([_torch(op)(x) for x in xs])
    torch.testing.assert_close(vmap(_ours(op, backend))(xs), expected)
    torch.testing.assert_close(vmap(_ours(op, backend), in_dims=1)(xs.movedim(0, 1)), expected)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", OPS)
def test_grad_and_per_sample_grad(op, backend):
    xs = _input((2, 1, 4, 5, 5))
    loss, loss_t = (lambda f: lambda t: f(t).pow(2).sum())(_ours(op, backend)), (lambda t: _torch(op)(t).pow(2).sum())
    torch.testing.assert_close(grad(loss)(xs[0]), grad(loss_t)(xs[0]))
    torch.testing.assert_close(vmap(grad(loss))(xs), vmap(grad(loss_t))(xs))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", OPS)
def test_jacobians_in_both_modes_and_jvp(op, backend):
    x = _input((1, 3, 5, 5))
    f, f_t = _ours(op, backend), _torch(op)
    expected = jacrev(f_t)(x)
    torch.testing.assert_close(jacrev(f)(x), expected)
    torch.testing.assert_close(jacfwd(f)(x), expected)
    tangent = _input((1, 3, 5, 5), seed=1)
    out, out_tangent = jvp(f, (x,), (tangent,))
    out_t, out_tangent_t = jvp(f_t, (x,), (tangent,))
    torch.testing.assert_close(out, out_t)
    torch.testing.assert_close(out_tangent, out_tangent_t)


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool2d_indices_under_vmap_and_unbatched_input(backend):
    xs = _input((2, 3, 7, 7))  # vmapped over 2 unbatched (C, H, W) inputs
    out, idx = vmap(lambda t: kernels.max_pool2d(t, 3, 2, return_indices=True, backend=backend))(xs)
    out_t, idx_t = zip(*(F.max_pool2d(x, 3, 2, return_indices=True) for x in xs))
    assert torch.equal(out, torch.stack(out_t)) and torch.equal(idx, torch.stack(idx_t))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", OPS)
def test_forward_mode_ad_through_dual_tensors(op, backend):
    import torch.autograd.forward_ad as fwAD

    x, tangent = _input((1, 3, 5, 5)), _input((1, 3, 5, 5), seed=1)
    with fwAD.dual_level():
        out = _ours(op, backend)(fwAD.make_dual(x, tangent))
        out_tangent = fwAD.unpack_dual(out).tangent
    torch.testing.assert_close(out_tangent, jvp(_torch(op), (x,), (tangent,))[1])
