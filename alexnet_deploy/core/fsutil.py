"""Atomic file writes: a failed or interrupted write never leaves a partial file."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Iterator

from alexnet_deploy.core.outputs import write_error
from alexnet_deploy.core.tempfiles import remove, sweep_stale, temp_sibling
from alexnet_deploy.core.transaction import make_parents, place


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    The temporary file lives in the same folder so the final rename is atomic on
    POSIX, and its name carries this process's pid so that a later run removes it
    if this one is killed outright (``core.tempfiles``). On any exception the
    temporary file is removed and ``path`` is left as it was (absent, or the
    previous good version); a write the filesystem refused (full disk, quota,
    read-only) becomes an OutputError naming ``path``. Inside a transaction
    (``core.transaction``) the rename is undone if the command fails later.
    """
    target = Path(path)
    tmp: Path | None = None
    try:
        make_parents(target)
        sweep_stale(target.parent)
        tmp = temp_sibling(target)
        # Created empty now (exclusively, with the mode a plain open() gives) so that the name is ours.
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        yield tmp
        place(tmp, target)
    except BaseException as exc:
        if tmp is not None:
            remove(tmp)
        error = write_error(exc, target)
        if error is not None:
            raise error from None
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through ``atomic_path`` (JSON reports, caches)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
