"""The repository folder as one unit: checked before any work, built beside its place, swapped in at the end.

Triton reads every sub-folder of its repository as a model, so a half-written
repository (a config without its model file) would fail to load or serve a
stale model. The new repository is built in a hidden folder next to ``out``
and renamed onto it only when complete; a repository this tool wrote earlier
(it holds ``MANIFEST``) is replaced whole, any other non-empty folder is refused.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from alexnet_deploy.errors import InputError

MANIFEST = "alexnet-deploy-triton.json"  # Triton loads only sub-folders, so a file at the root is left alone


def check_output_folder(out: str | os.PathLike) -> Path:
    """``out`` as a Path: absent, an empty folder or an earlier repository of ours; InputError otherwise."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise InputError(f"Output {path} is a file; give a folder for the model repository, such as "
                         f"{path.parent / 'model_repository'}.")
    if path.is_dir() and any(path.iterdir()) and not (path / MANIFEST).is_file():
        raise InputError(f"Output {path} is a folder that holds other files; give a new or empty folder (a "
                         f"repository written by alexnet-deploy triton export is replaced whole).")
    return path


@contextlib.contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A fresh folder beside ``out``; on success it replaces ``out``, on failure it is removed and ``out`` kept."""
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield stage
        stage.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; give the mode a plain mkdir would
        _swap_in(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _swap_in(stage: Path, out: Path) -> None:
    """Rename ``stage`` onto ``out``; an existing ``out`` is moved aside first and removed after."""
    if not out.exists():
        os.replace(stage, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.replace(out, old / out.name)
    try:
        os.replace(stage, out)
    except BaseException:
        os.replace(old / out.name, out)  # put the previous repository back
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
