"""Every file the lab writes is written atomically: a kill mid-write leaves the previous version, never half a file.

    atomic_write(path, write)      atomic_save(obj, path)      atomic_write_text(path, text)
    save_json(obj, path)           load_json(path, schema, what)

The bytes go to a temporary file in the same folder, are flushed to disk, and the file is renamed over ``path``
(a rename within one file system is atomic). Imports nothing outside the standard library until torch.save is
needed, so tools that run without torch (``benchmarks/gpu_check.py --prepare``) use it too.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(f)`` on a temporary binary file beside ``path``, then rename it over ``path``.

    A SIGINT or SIGTERM that arrives meanwhile is held and delivered once the file is in place: Python runs
    signal handlers between bytecodes, and a KeyboardInterrupt raised inside torch.save's writes to a Python file
    leaves its zip writer out of step (a RuntimeError "unexpected pos ..." replaces the interrupt), so the file
    would be lost and the interrupt reported as a crash. Temporary files are named ``.<name>.*.tmp``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with _signals_held():
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


def atomic_save(obj, path: str | Path) -> Path:
    """``torch.save(obj)`` to ``path``, atomically."""
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


def save_json(obj, path: str | Path) -> Path:
    """``obj`` as indented JSON, atomically (a run killed mid-write keeps the previous results file)."""
    return atomic_write_text(path, json.dumps(obj, indent=1) + "\n")


def load_json(path: str | Path, schema: str, what: str) -> dict:
    """A results file, refused with a clear error unless it says it is ``schema`` (``what`` names it)."""
    results = json.loads(Path(path).read_text())
    if results.get("schema") != schema:
        raise ValueError(f"{path} is not {what} (schema {results.get('schema')!r})")
    return results


class _signals_held:
    """In the main thread: SIGINT and SIGTERM are recorded instead of handled, then raised again on exit.

    It swaps the Python-level handlers rather than the thread's signal mask: the kernel hands a signal sent to the
    process to any thread that does not block it (torch's OpenMP pool, tqdm's monitor), and CPython then runs
    the handler in the main thread all the same.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self):
        self.previous, self.pending = {}, []
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                if signal.getsignal(sig) is not None:  # None: a handler not set from Python, left alone
                    self.previous[sig] = signal.signal(sig, self._record)
        return self

    def _record(self, signum, _frame) -> None:
        self.pending.append(signum)

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(self.pending):  # each signal once, in the order they came
            signal.raise_signal(sig)
