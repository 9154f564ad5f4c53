"""What every command shares: option decorators and the way a result ends a command.

Kept free of heavy imports: ``--help`` must not load torch, numpy, onnx or rich.
"""

from __future__ import annotations

from typing import Any, Callable

import click

# One meaning of --data for every command that reads labelled images (data.labelled.split_folder).
DATA_HELP = "Labelled images: a dataset root (its val/ split is used) or a folder with one sub-folder per class."


def json_option(function: Callable) -> Callable:
    """``--json FILE``: also write the result as JSON (also when a check failed: it holds the numbers)."""
    return click.option("--json", "json_out", type=click.Path(path_type=str), default=None,
                        help="Also write the result as JSON here.")(function)


def finish(result: Any, json_out: str | None = None) -> None:
    """Write ``result`` as JSON when asked, then end with exit code 1 if any of its checks failed."""
    from alexnet_deploy.errors import CheckFailed

    if json_out:
        result.write_json(json_out)
    if not result:
        raise CheckFailed("; ".join(result.failures()))


def need_onnxruntime() -> None:
    """Stop before any work when onnxruntime (either flavour) is missing: exit 2 with the install line."""
    from alexnet_deploy.core.lazy import lazy_import

    lazy_import("onnxruntime", purpose="checking and converting ONNX models")
