"""Plain-PyTorch versions of the kernels: the fast CPU path, and the naive float64 oracles the tests trust.

Two kinds of code live here and they must not share an algorithm:

* ``lrn_reference`` is the test oracle: the paper's formula written as literally as possible, one channel at
  a time, in float64. Its gradient comes from autograd, not from a hand derivation.
* ``lrn_torch_forward`` / ``lrn_torch_backward`` are what ``backend="torch"`` runs (a laptop without a GPU):
  vectorised, fp32 accumulation, and a hand-written backward that recomputes instead of storing.
"""

from __future__ import annotations

import torch


def lrn_window(channel: int, num_channels: int, size: int) -> range:
    """Channels that normalise ``channel``: ``size`` of them, ``size // 2`` before and ``(size - 1) // 2`` after.

    This is ``torch.nn.functional.local_response_norm``'s placement (the paper's, for odd sizes), clipped at
    the first and last channel.
    """
    return range(max(0, channel - size // 2), min(num_channels, channel + (size - 1) // 2 + 1))


def lrn_reference(x: torch.Tensor, size: int, alpha: float, beta: float, k: float) -> torch.Tensor:
    """Naive float64 LRN: ``b_i = a_i / (k + alpha * sum_{j in window(i)} a_j^2) ** beta``.

    ``alpha`` is used as given: pass ``alpha / size`` for the cuda-convnet/Caffe/PyTorch convention.
    x: (N, C, ...) -> (N, C, ...) in float64. Differentiable through autograd.
    """
    a = x.to(torch.float64)
    num_channels = a.shape[1]
    out = []
    for i in range(num_channels):
        window = list(lrn_window(i, num_channels, size))
        denom = k + alpha * sum(a[:, j] * a[:, j] for j in window)
        out.append(a[:, i] / denom**beta)
    return torch.stack(out, dim=1)


def _window_sum_(out: torch.Tensor, t: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """``out_i += sum_{j = i - before, j != i}^{i + after} t_j`` along dim 1, clipped at the edges; returns out.

    Shifted slice-adds rather than a cumulative sum: exact in fp32 (no prefix-sum cancellation, and an inf
    stays in the windows that hold it) and one pass over memory per shift, in place, which for the usual size 5
    beats a pooling call.
    """
    num_channels = t.shape[1]
    for d in range(1, min(before, num_channels - 1) + 1):
        out[:, d:] += t[:, : num_channels - d]
    for d in range(1, min(after, num_channels - 1) + 1):
        out[:, : num_channels - d] += t[:, d:]
    return out


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _lrn_denominator(a: torch.Tensor, size: int, alpha: float, k: float) -> torch.Tensor:
    """s = k + sum_{j in window(i)} (alpha a_j) a_j, in a's (fp32 or fp64) dtype.

    (alpha a) a rather than alpha (a a): a^2 overflows fp32 from |a| ~ 1.8e19 on, long before s does.
    """
    sq = torch.mul(a, alpha).mul_(a)
    return _window_sum_(sq + k, sq, size // 2, (size - 1) // 2)


def _pow_neg_(s: torch.Tensor, beta: float) -> torch.Tensor:
    """s <- s ** -beta in place; returns s.

    beta = 0.75 (the paper's and cuda-convnet's) as rsqrt(s) * sqrt(rsqrt(s)): on the CPU pow's exp(log) was a
    third of the LRN's time; this is within 2.1 machine epsilons of the float64 value, pow 0.5 (measured by
    tests/kernels/test_lrn.py::test_the_torch_backends_power_for_beta_three_quarters_is_within_a_few_ulp_of_pow).
    """
    if beta == 0.75:
        s.rsqrt_()
        return s.mul_(s.sqrt())
    return s.pow_(-beta)


def lrn_torch_forward(x: torch.Tensor, size: int, alpha: float, beta: float, k: float) -> torch.Tensor:
    """LRN forward in plain PyTorch. x: (N, C, ...) -> same shape and dtype."""
    a = x.to(_compute_dtype(x))
    return _pow_neg_(_lrn_denominator(a, size, alpha, k), beta).mul_(a).to(x.dtype)


def lrn_torch_backward(
    x: torch.Tensor, dy: torch.Tensor, size: int, alpha: float, beta: float, k: float, *, composite: bool = False
) -> torch.Tensor:
    """LRN backward in plain PyTorch, recomputing ``s`` from ``x`` (see ``kernels.lrn`` for the derivation).

    dx_i = v_i - 2 beta sum_{j: i in window(j)} v_j (alpha a_i a_j / s_j),      v_j = dy_j s_j^-beta

    When every s is small enough that s^(-beta-1) is far from underflow (always, at real activations), the
    cheaper grouping ``t_j = dy_j a_j s_j^(-beta-1)`` with in-place window sums runs; otherwise the form above,
    whose factors cannot underflow. ``composite=True`` always takes the latter: it is made of differentiable,
    vmappable out-of-place ops on slices, so it is also the double backward and the ``torch.func`` backward.
    """
    a = x.to(_compute_dtype(x))
    g = dy.to(a.dtype)
    s = _lrn_denominator(a, size, alpha, k)
    lead, lag = (size - 1) // 2, size // 2
    # s^(-beta-1) >= 2^-100 (fp32) leaves 26 binary orders of magnitude for dy and a before subnormals.
    limit = 2.0 ** ((100.0 if a.dtype == torch.float32 else 900.0) / (beta + 1.0))
    cheap = not composite and (s.numel() == 0 or bool(s.max() <= limit))  # NaN or inf in s: the safe form
    if cheap:
        s_pow = _pow_neg_(s.clone(), beta)
        t = torch.div(s_pow, s).mul_(g).mul_(a)
        # i is in window(j) exactly when j is in [i - lead, i + lag]: the transposed window.
        t_sum = _window_sum_(t.clone(), t, lead, lag)
        return torch.mul(g, s_pow).addcmul_(a, t_sum, value=-2.0 * alpha * beta).to(x.dtype)
    v = g * s.pow(-beta)
    w = a / s
    alpha_a = a * alpha
    num_channels = a.shape[1]
    cross = v * (w * alpha_a)
    for d in range(1, min(lead, num_channels - 1) + 1):  # j = i - d
        cross[:, d:] += v[:, : num_channels - d] * (w[:, : num_channels - d] * alpha_a[:, d:])
    for d in range(1, min(lag, num_channels - 1) + 1):  # j = i + d
        cross[:, : num_channels - d] += v[:, d:] * (w[:, d:] * alpha_a[:, : num_channels - d])
    return (v - 2.0 * beta * cross).to(x.dtype)


def lrn_torch_jvp(
    x: torch.Tensor, x_tangent: torch.Tensor, size: int, alpha: float, beta: float, k: float
) -> torch.Tensor:
    """Forward-mode derivative of LRN: the change of b along x_tangent (``torch.func.jvp`` / ``jacfwd``).

    db_i = da_i s_i^-beta - beta b_i ds_i / s_i,      ds_i = 2 sum_{j in window(i)} (alpha a_j) da_j
    """
    a = x.to(_compute_dtype(x))
    da = x_tangent.to(a.dtype)
    s = _lrn_denominator(a, size, alpha, k)
    s_pow = s.pow(-beta)
    prod = a * alpha * da
    ds = 2.0 * _window_sum_(prod.clone(), prod, size // 2, (size - 1) // 2)
    return (da * s_pow - beta * (a * s_pow) * (ds / s)).to(x.dtype)


def max_pool2d_reference(
    x: torch.Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    out_size: tuple[int, int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Naive float64 max pooling: one output cell at a time, windows read cell by cell in row-major order.

    Returns (values, flat indices h * W + w). A cell wins if it is the first one inside the input, strictly
    greater than the best so far, or NaN. Loops over output cells and window positions, vectorised over (N, C).
    """
    a = x.to(torch.float64)
    num_n, num_c, height, width = a.shape
    values = torch.empty(num_n, num_c, *out_size, dtype=torch.float64)
    indices = torch.empty(num_n, num_c, *out_size, dtype=torch.int64)
    for oh in range(out_size[0]):
        for ow in range(out_size[1]):
            best = torch.full((num_n, num_c), float("-inf"), dtype=torch.float64)
            where = torch.full((num_n, num_c), -1, dtype=torch.int64)
            for kh in range(kernel[0]):
                ih = oh * stride[0] - padding[0] + kh * dilation[0]
                for kw in range(kernel[1]):
                    iw = ow * stride[1] - padding[1] + kw * dilation[1]
                    if not (0 <= ih < height and 0 <= iw < width):
                        continue
                    v = a[:, :, ih, iw]
                    take = (v > best) | v.isnan() | (where < 0)
                    best = torch.where(take, v, best)
                    where = torch.where(take, torch.full_like(where, ih * width + iw), where)
            values[:, :, oh, ow], indices[:, :, oh, ow] = best, where
    return values, indices


def max_pool2d_backward_reference(dy: torch.Tensor, indices: torch.Tensor, input_shape) -> torch.Tensor:
    """Float64 scatter-add of dy onto the input cells named by indices."""
    num_n, num_c, height, width = input_shape
    dx = torch.zeros(num_n, num_c, height * width, dtype=torch.float64)
    dx.scatter_add_(2, indices.flatten(2), dy.to(torch.float64).flatten(2))
    return dx.view(input_shape)
