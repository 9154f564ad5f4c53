"""Rules for output paths, checked before any work starts (``core.outputs`` holds the checks)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from alexnet_deploy.core.outputs import check_outputs


def check_output(out: str | os.PathLike, *, example: str, inputs: Mapping[str, str | os.PathLike | None] | None = None) -> Path:
    """``out`` as a Path, refused (OutputError) when it cannot be written or is one of ``inputs``.

    ``example`` names a good file name for the message when ``out`` is a
    folder; ``inputs`` maps a description ("the checkpoint", "the fp32 model")
    to the path it stands for. See ``core.outputs.check_location`` for the rest.
    """
    from alexnet_deploy.core.outputs import check_location

    check_location(out, what="Output", example=example)
    return check_outputs({"Output": out}, inputs=inputs)["Output"]
