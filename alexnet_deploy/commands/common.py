"""What every command shares: option decorators, output checks, partner flags, safe printing, the end of a command.

Kept free of heavy imports: ``--help`` must not load torch, numpy, onnx or rich.

The interface speaks one language:

* ``--model`` is the model a command reads (checkpoint, ONNX model or engine, told apart by suffix);
* ``--out`` is the one artifact a command makes; files derived from it sit beside it as
  ``<out stem>.<kind>.<suffix>``; where a default exists it is derived from ``--model`` the same way;
* image counts are ``--<purpose>-images`` (``--check-images``, ``--calib-images``, ``--eval-images``);
* ``--batch-size`` is how many images go through at once; ``--batch-dim`` is a model's batch dimension;
* ``--data`` is labelled images (DATA_HELP), ``--json`` the result as JSON.

Old spellings of renamed options are still accepted, without being shown in ``--help``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping

import click

from alexnet_deploy.errors import InputError

# One meaning of --data for every command that reads labelled images (data.labelled.split_folder).
DATA_HELP = "Labelled images: a dataset root (its val/ split is used) or a folder with one sub-folder per class."
INTERRUPT_NOTE = "alexnet_deploy.interrupt_note"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class Renamed(click.Option):
    """An option whose first name is the one shown; the others (old spellings) still work, unlisted."""

    def _first_only(self, method: Callable, *args: Any) -> Any:
        opts = self.opts
        self.opts = opts[:1]
        try:
            return method(*args)
        finally:
            self.opts = opts

    def get_help_record(self, ctx):
        return self._first_only(super().get_help_record, ctx)

    def get_error_hint(self, ctx):
        return self._first_only(super().get_error_hint, ctx)


class OutputPath(click.ParamType):
    """A path the command will write, checked while the command line is parsed (``core.outputs.check_location``)."""

    name = "path"

    def __init__(self, *, folder: bool = False, example: str | None = None) -> None:
        self.folder, self.example = folder, example

    def convert(self, value, param, ctx):
        from alexnet_deploy.core.outputs import check_location

        what = param.opts[0] if param is not None and param.opts else "The output"
        return str(check_location(value, what=what, folder=self.folder, example=self.example))


def json_option(function: Callable) -> Callable:
    """``--json FILE``: also write the result as JSON (also when a check failed: it holds the numbers)."""
    return click.option("--json", "json_out", type=OutputPath(example="result.json"), default=None,
                        help="Also write the result as JSON here.")(function)


def model_option(*, help: str, old: tuple[str, ...] = (), required: bool = True) -> Callable:
    """``--model PATH``: the model the command reads; ``old`` are earlier names still accepted."""
    return click.option("--model", *old, "model", cls=Renamed, required=required, type=click.Path(path_type=str),
                        help=help)


def interrupt_note(note: str) -> None:
    """What an interruption of the running command leaves behind, for its one sentence (default: nothing)."""
    click.get_current_context().meta[INTERRUPT_NOTE] = note


def given(name: str) -> bool:
    """Whether the parameter ``name`` of the running command was given on the command line (or environment)."""
    ctx = click.get_current_context()
    source = ctx.get_parameter_source(name)
    return source in (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)


def _flag(name: str) -> str:
    for param in click.get_current_context().command.params:
        if param.name == name:
            return param.opts[0]
    return name


def refuse_without(partners: Mapping[str, str], *, why: Mapping[str, str] | None = None) -> None:
    """Refuse a flag given without its partner (``{"eval_images": "data_dir"}``), instead of ignoring it."""
    ctx = click.get_current_context()
    for name, partner in partners.items():
        if given(name) and ctx.params.get(partner) in (None, False):
            reason = f" ({why[name]})" if why and name in why else ""
            raise InputError(f"{_flag(name)} only applies with {_flag(partner)}{reason}; add {_flag(partner)} "
                             f"or drop {_flag(name)}.")


def check_outputs(outputs: Mapping[str, Any], *, inputs: Mapping[str, Any] | None = None,
                  folders: Mapping[str, Any] | None = None, need_bytes: Mapping[str, int] | None = None) -> None:
    """Every output of the command checked at once, before any work (see ``core.outputs.check_outputs``)."""
    from alexnet_deploy.core.outputs import check_outputs as check

    check(outputs, inputs=inputs, folders=folders, need_bytes=need_bytes)


def size_of(path: str | os.PathLike | None) -> int:
    """Bytes of a file (0 when it is missing): the basis of the space an output will need."""
    try:
        return Path(path).stat().st_size if path is not None else 0
    except OSError:
        return 0


def printable(text: str) -> str:
    """``text`` with control characters (terminal escapes in a file name) shown as escapes, not obeyed."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def console(*, stderr: bool = False):
    """A rich Console that prints user strings as they are: no markup (``[bold]x`` is a folder name), no highlighting.

    Built on each use so that it writes to whatever sys.stdout/sys.stderr is now (click's test runner swaps them).
    """
    from rich.console import Console

    return Console(stderr=stderr, markup=False, highlight=False, soft_wrap=True)


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
