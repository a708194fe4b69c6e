"""Index versions on disk, so a running server can switch to a new index without a missing moment.

    <folder>/versions/<id>/   one whole index (written beside, then renamed into place)
    <folder>/CURRENT          the id of the version to serve; replaced atomically with os.replace
    <folder>/.lock            held (flock) while a version is built and published, across processes

A reader reads CURRENT and loads that folder; a writer publishes a new folder first and only then points
CURRENT at it, so every process at every moment finds a whole index. The newest `KEEP` versions stay on
disk, so a process that read CURRENT just before a switch can still load the version it named.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

KEEP = 3
POINTER = "CURRENT"


class IndexBusy(RuntimeError):
    """Another process is building this index right now (only raised when not waiting for it)."""


@contextlib.contextmanager
def build_lock(folder: Path, wait: bool = True) -> Iterator[None]:
    """One builder at a time per index folder, in this process and across processes."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusy(f"{folder} is being built by another process") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_id(folder: Path) -> str | None:
    try:
        name = (folder / POINTER).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return name if name and (folder / "versions" / name).is_dir() else None


def current_version(folder: Path) -> Path | None:
    """The folder of the version to serve, or None when nothing was published yet."""
    name = current_id(folder)
    return folder / "versions" / name if name else None


def new_version(folder: Path) -> Path:
    """A fresh, not yet existing version folder (the caller writes it, then `point_at` publishes it)."""
    return folder / "versions" / f"{time.time_ns():020d}"


def point_at(folder: Path, version: Path) -> None:
    """Serve `version` from now on (call under `build_lock`), then drop versions no reader can still want."""
    pointer = folder / f"{POINTER}.tmp-{os.getpid()}"
    with pointer.open("w", encoding="utf-8") as out:
        out.write(version.name + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(pointer, folder / POINTER)
    _prune(folder, keep={version.name})


def _prune(folder: Path, keep: set[str]) -> None:
    versions = sorted(
        (p for p in (folder / "versions").iterdir() if p.is_dir() and ".tmp-" not in p.name), reverse=True
    )
    for stale in versions[KEEP:]:
        if stale.name not in keep:
            shutil.rmtree(stale, ignore_errors=True)
