"""The ``alexnet-deploy`` command line: a thin click group over ``commands/``.

Heavy modules (torch, onnx, onnxruntime, rich) are imported inside the commands
so ``--help`` stays fast. Every command runs the same way (``DeployGroup``):

* SIGINT and SIGTERM raise an interruption (``core.interrupts``): exit code 130
  or 143 and one sentence, after every cleanup has run;
* its outputs are one unit (``core.transaction``): a failure or an
  interruption after some were written removes them again;
* a DeployError (and a usage mistake) is one sentence on stderr with exit code
  2, a write the filesystem refused midway too; a CheckFailed names the failed
  check with exit code 1 (its outputs, such as the --json report, are kept);
  any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import click

from alexnet_deploy import __version__
from alexnet_deploy.commands import bench as bench_commands
from alexnet_deploy.commands import data as data_commands
from alexnet_deploy.commands import engine as engine_commands
from alexnet_deploy.commands import export as export_commands
from alexnet_deploy.commands import inspect as inspect_commands
from alexnet_deploy.commands import pipeline as pipeline_commands
from alexnet_deploy.commands import quantize as quantize_commands
from alexnet_deploy.commands import train as train_commands
from alexnet_deploy.commands import triton as triton_commands
from alexnet_deploy.commands import verify as verify_commands
from alexnet_deploy.commands.common import INTERRUPT_NOTE, printable
from alexnet_deploy.errors import CheckFailed, DeployError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class UserError(click.ClickException):
    """A DeployError on its way out: 'Error: <message>' on one line and exit code 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"Error: {printable(self.format_message())}", err=True, file=file)


class UsageMistake(UserError):
    """A click usage error (missing or unknown option, bad value) as one line, with where to find help."""

    def __init__(self, error: click.UsageError) -> None:
        hint = f" (see '{error.ctx.command_path} -h')" if error.ctx is not None else ""
        message = error.format_message()
        super().__init__(message + ("" if message.endswith((".", "?")) else ".") + hint)


class FailedCheck(click.ClickException):
    """A CheckFailed on its way out: 'Check failed: <check and numbers>' and exit code 1."""

    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(f"Check failed: {printable(self.format_message())}", err=True, file=file)


class Stopped(click.ClickException):
    """An interruption on its way out: one sentence and exit code 128 + the signal (130, 143)."""

    def __init__(self, interruption: BaseException, note: str | None) -> None:
        from alexnet_deploy.core import interrupts

        super().__init__(interrupts.sentence(interruption, note))
        self.exit_code = interrupts.exit_code(interruption)

    def show(self, file=None) -> None:
        click.echo(printable(self.format_message()), err=True, file=file)


class DeployGroup(click.Group):
    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise UsageMistake(exc) from None

    def invoke(self, ctx: click.Context):
        from alexnet_deploy.core.interrupts import handle_signals
        from alexnet_deploy.core.outputs import refused_write_error
        from alexnet_deploy.core.transaction import transaction

        failed = None
        with handle_signals():
            try:
                with transaction():
                    try:
                        super().invoke(ctx)
                    except CheckFailed as exc:  # the outputs stay: the --json report holds the numbers
                        failed = exc
            except click.UsageError as exc:
                raise UsageMistake(exc) from None
            except DeployError as exc:
                raise UserError(str(exc)) from None
            except KeyboardInterrupt as exc:
                raise Stopped(exc, ctx.meta.get(INTERRUPT_NOTE)) from None
            except Exception as exc:
                refused = refused_write_error(exc)
                if refused is None:
                    raise
                raise UserError(str(refused)) from None
        if failed is not None:
            raise FailedCheck(str(failed)) from None


@click.group(cls=DeployGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="alexnet-deploy")
def main() -> None:
    """Take AlexNet from PyTorch to production inference, and prove the result."""


for _module in (inspect_commands, data_commands, train_commands, export_commands, quantize_commands,
                engine_commands, triton_commands, verify_commands, bench_commands, pipeline_commands):
    for _command in _module.COMMANDS:
        main.add_command(_command)
