"""Where the lab keeps what it derives from data: zip archives extracted once, decoded tensors and statistics,
keyed so that a changed image is noticed (``$ALEXNET_LAB_CACHE``, default ``~/.cache/alexnet-lab``)."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path


def cache_dir() -> Path:
    """Where extracted archives and decoded tensors go: ``$ALEXNET_LAB_CACHE`` or ``~/.cache/alexnet-lab``."""
    root = os.environ.get("ALEXNET_LAB_CACHE") or Path.home() / ".cache" / "alexnet-lab"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def index_fingerprint(root: str | Path, samples: list[tuple[Path, int]], *extra) -> str:
    """A key that changes when any image under ``root`` is added, removed, renamed, resized or rewritten: a hash of
    every file's relative path, class, size in bytes and modification time (and of ``extra``)."""
    root = Path(root)
    digest = hashlib.sha1(repr(extra).encode())
    for path, label in samples:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}:{label}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:12]


def _path_key(root: str | Path) -> str:
    return hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:8]


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha1(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]


def extract_zip(path: str | Path, cache: str | Path | None = None) -> Path:
    """Extract a zip archive once into the cache and return the folder; later calls return it at once.

    Extraction goes to a temporary folder that is renamed into place, so an interrupted run leaves nothing
    half-written behind.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"extract_zip: no such file {path}")
    target = Path(cache or cache_dir()) / f"{path.stem}-{_fingerprint(path)}"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.stem}-", dir=target.parent))
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():  # refuse archives that would write outside the target
                if member.startswith("/") or ".." in Path(member).parts:
                    raise ValueError(f"extract_zip: {path} holds an unsafe path {member!r}")
            archive.extractall(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            if not target.is_dir():
                raise
    except zipfile.BadZipFile as err:
        raise ValueError(f"extract_zip: {path} is not a valid zip archive ({err})") from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_folder(source: str | Path) -> Path:
    """A folder of images, extracting it first if ``source`` is a zip file."""
    path = Path(source).expanduser()
    if not path.exists():
        where = "" if path.is_absolute() else f" (a relative path is read from the current folder, {Path.cwd()})"
        raise FileNotFoundError(f"no such data folder or zip: {path}{where}")
    if path.suffix.lower() == ".zip":
        return extract_zip(path)
    return path
