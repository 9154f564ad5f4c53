"""User-facing errors.

A ``DeployError`` is a mistake in what the user asked for or gave us (a missing
file, a corrupt checkpoint, conflicting flags). The CLI prints its message as one
sentence on stderr and exits with code 2, without a traceback. Anything else is a
bug and keeps its traceback.
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
    """An export or conversion whose result failed its checks."""


class MissingDependencyError(DeployError):
    """An optional package is not installed; the message names the install command."""
