"""PyTorch's own operators behind the lab's signatures, to run the conformance suite on them:

    pytest tests/kernels --lrn-impl=tests.kernels.torch_impls:lrn

``lrn`` converts the alpha convention (``F.local_response_norm`` divides alpha by size) and passes;
``lrn_unconverted`` forgets to, and the report says which checks that breaks and why.
"""

import torch
import torch.nn.functional as F


def _local_response_norm(x, size, alpha, beta, k):
    # PyTorch's CPU LRN has no fp16/bf16 kernel: compute in fp32 and round once, as the lab's kernels do.
    if x.device.type == "cpu" and x.dtype in (torch.float16, torch.bfloat16):
        return F.local_response_norm(x.float(), size, alpha, beta, k).to(x.dtype)
    return F.local_response_norm(x, size, alpha, beta, k)


def lrn(x, size, alpha, beta, k, alpha_over_size=False):
    return _local_response_norm(x, size, alpha if alpha_over_size else alpha * size, beta, k)


def lrn_unconverted(x, size, alpha, beta, k, alpha_over_size=False):
    return _local_response_norm(x, size, alpha, beta, k)


def max_pool2d(x, kernel_size, stride, return_indices=False):
    return F.max_pool2d(x, kernel_size, stride, return_indices=return_indices)


def relu_lrn_max_pool2d(x, size, alpha, beta, k, alpha_over_size=False):
    return F.max_pool2d(lrn(F.relu(x), size, alpha, beta, k, alpha_over_size), 3, 2)
