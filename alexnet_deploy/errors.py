"""Errors that end a command with an exit code of their own.

A ``DeployError`` is a mistake in what the user asked for or gave us (a missing
file, a corrupt checkpoint, conflicting flags): the CLI prints its message as
one sentence on stderr and exits with code 2, without a traceback. A
``CheckFailed`` is a check that ran and did not pass (a parity gate, an
accuracy budget): exit code 1, with the check named and its numbers. Anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations


class DeployError(Exception):
    """A user error: the message says what is wrong and what to do."""

    exit_code = 2


class InputError(DeployError):
    """Bad arguments or a bad input file."""


class CheckpointError(DeployError):
    """A checkpoint that cannot be read or does not match its architecture."""


class DataError(DeployError):
    """A dataset or calibration folder that cannot be used."""


class ExportError(DeployError):
    """A model file that cannot be made or loaded as asked."""


class OutputError(InputError):
    """An output location that cannot take the write, or a write the filesystem refused midway."""


class MissingDependencyError(DeployError):
    """An optional package is not installed; the message names the install command."""


class BackendError(DeployError):
    """A backend that cannot run here or cannot run this artifact."""


class CheckFailed(Exception):
    """A check ran and did not pass: the message names the check and its numbers (exit code 1)."""

    exit_code = 1
