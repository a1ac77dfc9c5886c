"""Keep freed memory in the process for the next tensor, instead of handing it back to the kernel (glibc only).

glibc serves an allocation above its mmap threshold with a fresh mapping and unmaps it on free (the threshold
grows with use, to at most 32 MiB), and trims the top of its heap once more than twice that is free. A CPU
training step allocates and frees tensors of tens of MB many times over, so the kernel zero-fills their pages
again on every first touch: cuda-convnet's CIFAR-10 nets took 1.14-1.26x longer per step that way on a 2-core
AMD EPYC (docs/lrn_overlap.md). Fixing the threshold at 32 MiB and trimming only above 2 GiB keeps those pages mapped;
the numbers computed are the same, only the process holds its peak memory instead of returning it between steps.

    keep_freed_memory() -> bool     (False where the C library is not glibc: nothing changed)
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # <malloc.h>
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds for a training process; True when they were set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 (glibc's own symbol: musl's mallopt does nothing)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
