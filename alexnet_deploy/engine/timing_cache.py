"""A timing cache file shared between builds: read and written under a file lock, merged, never torn.

Builds that run at the same time on one machine may share ``--timing-cache``:
each reads it under the lock, builds without holding it, and at the end merges
what it learned into whatever is on disk by then (``ITimingCache.combine``),
so neither build's measurements are lost. A cache from another TensorRT
version or GPU is not an error: the build starts from an empty one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator

from alexnet_deploy.core.fsutil import atomic_path


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on ``<path>.lock`` (POSIX advisory lock; released on exit or process death)."""
    import fcntl

    lock_path = Path(path).with_name(Path(path).name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield lock_path
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def read_cache_bytes(path: str | os.PathLike) -> bytes:
    """The timing cache file's bytes (empty when absent), read under the lock."""
    with file_lock(path):
        file = Path(path)
        return file.read_bytes() if file.is_file() else b""


def attach_timing_cache(config: Any, path: str | os.PathLike) -> bool:
    """Give ``config`` the timing cache at ``path``; False when the file was unusable and an empty one is used."""
    data = read_cache_bytes(path)
    timing_cache = config.create_timing_cache(data)
    if timing_cache is not None and config.set_timing_cache(timing_cache, False):
        return True
    timing_cache = config.create_timing_cache(b"")
    config.set_timing_cache(timing_cache, False)
    return not data


def save_timing_cache(config: Any, path: str | os.PathLike) -> int:
    """Merge ``config``'s timing cache into the file at ``path`` under the lock; returns the bytes written."""
    timing_cache = config.get_timing_cache()
    with file_lock(path):
        file = Path(path)
        if file.is_file():
            disk_cache = config.create_timing_cache(file.read_bytes())
            if disk_cache is not None:
                timing_cache.combine(disk_cache, False)  # False: entries from another device are refused
        data = bytes(memoryview(timing_cache.serialize()))
        with atomic_path(file) as tmp:
            tmp.write_bytes(data)
    return len(data)
