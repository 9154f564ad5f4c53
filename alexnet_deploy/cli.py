"""The ``alexnet-deploy`` command line: a thin click group over ``commands/``.

Heavy modules (torch, onnx, onnxruntime, rich) are imported inside the commands
so ``--help`` stays fast. A DeployError becomes one sentence on stderr and exit
code 2; a CheckFailed names the failed check with exit code 1; any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import click

from alexnet_deploy import __version__
from alexnet_deploy.commands import data as data_commands
from alexnet_deploy.commands import engine as engine_commands
from alexnet_deploy.commands import export as export_commands
from alexnet_deploy.commands import inspect as inspect_commands
from alexnet_deploy.commands import quantize as quantize_commands
from alexnet_deploy.commands import train as train_commands
from alexnet_deploy.commands import triton as triton_commands
from alexnet_deploy.commands import verify as verify_commands
from alexnet_deploy.errors import CheckFailed, DeployError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class UserError(click.ClickException):
    """A DeployError on its way out: click prints 'Error: <message>' and exits with 2."""

    exit_code = 2


class FailedCheck(click.ClickException):
    """A CheckFailed on its way out: 'Check failed: <check and numbers>' and exit code 1."""

    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(f"Check failed: {self.format_message()}", err=True, file=file)


class DeployGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DeployError as exc:
            raise UserError(str(exc)) from None
        except CheckFailed as exc:
            raise FailedCheck(str(exc)) from None


@click.group(cls=DeployGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="alexnet-deploy")
def main() -> None:
    """Take AlexNet from PyTorch to production inference, and prove the result."""


for _module in (inspect_commands, data_commands, train_commands, export_commands, quantize_commands,
                engine_commands, triton_commands, verify_commands):
    for _command in _module.COMMANDS:
        main.add_command(_command)
