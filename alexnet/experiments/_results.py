"""What the experiments' results files share: the machine's name, a run's saved state."""

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


def load_run_state(path, key: dict) -> dict | None:
    """A run's saved state (``torch.load(weights_only=True)``) when it is this very run's (its ``key`` matches),
    else None: no file, another run's, or a file cut short (the run then starts over)."""
    if path is None or not Path(path).is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a state cut short: start the run over
        return None
    return state if state.get("key") == key else None
