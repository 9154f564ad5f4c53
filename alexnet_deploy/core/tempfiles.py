"""Temporary files and folders named after the process that owns them, so stale ones can be removed.

Every temporary entry this tool makes (a staged model beside its target, a
scratch folder for a calibration model under the system temp folder) carries
its owner in its name: ``<prefix>.ad-<host>-<pid>-<random>.tmp``. A run that
is killed outright (SIGKILL, a power cut, an out-of-memory kill) cannot clean
up after itself; the next run that writes into the same folder, or makes a
scratch folder, finds entries whose owner was this host and whose pid is dead,
and removes them. Entries of live processes and of other hosts (a shared
filesystem) are never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Iterator

from alexnet_deploy.errors import OutputError

SCRATCH_PREFIX = "alexnet-deploy-"
_OWNER = re.compile(r"\.ad-(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-(?P<rand>[a-z0-9]+)\.tmp$")


def _host() -> str:
    # Only [A-Za-z0-9_], so the owner tag parses back unambiguously.
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname().split(".")[0])[:24] or "host"


def owner_tag() -> str:
    """``.ad-<host>-<pid>-<random>.tmp``: the suffix that marks a temporary entry and its owner."""
    return f".ad-{_host()}-{os.getpid()}-{secrets.token_hex(4)}.tmp"


def temp_sibling(target: str | os.PathLike) -> Path:
    """A fresh temporary name beside ``target`` (same folder, so a rename onto it is atomic)."""
    target = Path(target)
    return target.parent / f".{target.name}{owner_tag()}"


def owner_pid(name: str) -> int | None:
    """The pid that owns a temporary entry named ``name``, or None when the name is not ours (or not this host's)."""
    match = _OWNER.search(name)
    if match is None or match["host"] != _host():
        return None
    return int(match["pid"])


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one of another user counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove(path: Path) -> None:
    """Remove a file, link or folder tree; missing is fine."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def sweep_stale(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary entries in ``folder`` whose owner process on this host is dead; returns them."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        pid = owner_pid(name)
        if pid is not None and not pid_alive(pid):
            path = Path(folder) / name
            remove(path)
            removed.append(path)
    return removed


@contextlib.contextmanager
def scratch_dir(purpose: str, *, need_bytes: int = 0, hold_tempfiles: bool = False) -> Iterator[Path]:
    """A private folder under the system temp folder, removed on exit (also on an interruption).

    Stale scratch folders of dead processes are swept first, so a killed run's
    hundreds of megabytes of calibration models do not pile up in /tmp. A temp
    folder with less than ``need_bytes`` free is refused now (OutputError)
    rather than midway. With ``hold_tempfiles`` the temporary files libraries
    make for themselves in this block (onnxruntime's quantizer writes whole
    models) go inside this folder, so they are swept with it.
    """
    root = Path(tempfile.gettempdir())
    sweep_stale(root)
    free = shutil.disk_usage(root).free
    if free < need_bytes:
        raise OutputError(f"The temporary folder {root} has {free / 1e6:,.1f} MB free and {purpose} needs about "
                          f"{need_bytes / 1e6:,.1f} MB there; free some space or point TMPDIR at a bigger place.")
    path = root / f"{SCRATCH_PREFIX}{purpose}{owner_tag()}"
    path.mkdir(mode=0o700)
    saved = tempfile.tempdir
    try:
        if hold_tempfiles:
            tempfile.tempdir = str(path)
        yield path
    finally:
        tempfile.tempdir = saved
        remove(path)
