"""Rules for output paths, checked before any work starts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from alexnet_deploy.errors import InputError


def check_output(out: str | os.PathLike, *, example: str, inputs: Mapping[str, str | os.PathLike | None] | None = None) -> Path:
    """``out`` as a Path, refused when it is a folder or the same file as one of ``inputs``.

    ``example`` names a good file name for the message; ``inputs`` maps a
    description ("the checkpoint", "the fp32 model") to the path it stands for.
    """
    path = Path(out)
    if path.is_dir():
        raise InputError(f"Output {path} is a folder; give a file path such as {path / example}.")
    for what, source in (inputs or {}).items():
        if source is not None and path.exists() and Path(source).exists() and path.resolve() == Path(source).resolve():
            raise InputError(f"Output {path} is {what} itself; choose another output path.")
    return path
