"""What results files record of where they were measured: the device, the machine, the versions."""

from __future__ import annotations

import platform
from pathlib import Path

import torch


def device_name(device: str | torch.device) -> str:
    """``NVIDIA H200`` for a GPU, ``x86_64 CPU, 2 threads`` for the CPU (the threads torch uses now)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"{platform.machine()} CPU, {threads} thread{'s' * (threads > 1)}"


def machine_name(device: str | torch.device) -> str:
    """Which machine a timing comes from: ``NVIDIA H200`` for a GPU; for the CPU its model and the vector
    instructions torch uses, with the threads, e.g. ``AMD EPYC (AVX2), 2 threads``. Two CPUs that
    :func:`device_name` calls alike can differ twofold in seconds per epoch."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"{cpu_model()} ({torch.backends.cpu.get_cpu_capability()}), {threads} thread{'s' * (threads > 1)}"


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or f"{platform.machine()} CPU"


def environment(device: str | torch.device, **counts) -> dict:
    """The environment block of a results file: the device's and machine's names, torch's version, and ``counts``
    (e.g. ``train_images=50000``)."""
    return dict(device_name=device_name(device), machine=machine_name(device), torch=torch.__version__, **counts)
