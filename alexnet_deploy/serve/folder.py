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
from pathlib import Path
from typing import Iterator

from alexnet_deploy.core.outputs import check_location, naming_refused_writes
from alexnet_deploy.core.tempfiles import remove, temp_sibling
from alexnet_deploy.core.transaction import make_parents, place
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
    return check_location(path, what="Output", folder=True)  # under a file, /proc, read-only, full


@contextlib.contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A fresh folder beside ``out``; on success it replaces ``out``, on failure it is removed and ``out`` kept.

    Its name carries this process's pid (``core.tempfiles``), so a later run removes it if this one is killed;
    inside a command the swap is undone if the command fails later (``core.transaction``).
    """
    make_parents(out)
    stage = temp_sibling(out)
    stage.mkdir()
    try:
        with naming_refused_writes(str(out)):
            yield stage
        place(stage, out)  # an earlier repository waits aside until the command succeeds
    finally:
        remove(stage)
