"""Where a command may write, checked before any work starts; and what a failed write means.

``check_outputs`` runs first in every command that writes: each output
location is refused in one sentence when it is a folder (or, for a folder
output, a file), sits under a file, is not a regular file (``/dev/null``), is
on a pseudo filesystem (``/proc``, ``/sys``), cannot be written (permissions,
a read-only filesystem), lacks the free space the command will need, names the
same file as another output, or is one of the command's inputs. Stale
temporary entries of dead runs in the output folders are swept on the way.

``write_failure`` recognises a write that the filesystem refused midway (full,
over quota, over the file-size limit, read-only): those become one sentence
(``OutputError``) instead of a traceback; ``transaction.py`` makes sure nothing
half-written stays behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path
from typing import Iterator, Mapping

from alexnet_deploy.core.tempfiles import sweep_stale
from alexnet_deploy.errors import OutputError

PathLike = str | os.PathLike
# Filesystems that hold no user files: writing there fails (or, as root, does something else entirely).
PSEUDO_FILESYSTEMS = frozenset({
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs", "configfs",
    "pstore", "bpf", "mqueue", "hugetlbfs", "efivarfs", "fusectl", "binfmt_misc", "autofs", "rpc_pipefs",
})
MIN_FREE_BYTES = 1 << 20  # a filesystem with less than this free is full for our purposes
_WRITE_ERRNOS = {
    errno.ENOSPC: "no space is left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EFBIG: "the file grew past the filesystem's or the process's file-size limit",
    errno.EROFS: "the filesystem is read-only",
}


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def _nearest_existing(path: Path) -> Path:
    probe = path
    while not probe.exists() and not probe.is_symlink():
        if probe.parent == probe:
            break
        probe = probe.parent
    return probe


def filesystem_type(path: PathLike) -> str:
    """The type of the filesystem holding ``path`` (Linux /proc/mounts), or "" when it cannot be told."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return ""
    resolved = str(Path(path).resolve())
    best, kind = "", ""
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, parts[2]
    return kind


def check_location(path: PathLike, *, what: str, folder: bool = False, need_bytes: int = 0,
                   example: str | None = None) -> Path:
    """Refuse (OutputError, one sentence) an output location that cannot take a write; returns it as a Path.

    ``what`` names the output in messages ("--out", "--json", "the fp16 model").
    ``folder`` says the output is a folder rather than a file. ``need_bytes`` is
    the space the command expects to write there (0: just not full). ``example``
    is a file name to suggest when a folder was given for a file.
    """
    text = os.fspath(path)
    if not text.strip():
        raise OutputError(f"{what} is empty; give a path.")
    target = Path(text)
    label = f"{what} {target}"
    if target.exists():
        if folder and not target.is_dir():
            raise OutputError(f"{label} exists and is not a folder; choose a folder path.")
        if not folder and target.is_dir():
            suggestion = f" such as {target / example}" if example else ""
            raise OutputError(f"{label} is a folder; give a file path{suggestion}.")
        if not folder and not target.is_file():
            raise OutputError(f"{label} is not a regular file (a device, pipe or socket); give a file path.")
    anchor = _nearest_existing(target.parent)
    if not anchor.is_dir():
        raise OutputError(f"{label} cannot be created: {anchor} is a file, not a folder.")
    kind = filesystem_type(anchor)
    if kind in PSEUDO_FILESYSTEMS:
        raise OutputError(f"{label} is on a {kind} filesystem, which holds no files; choose a path on a disk.")
    try:
        read_only = bool(os.statvfs(anchor).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        raise OutputError(f"{label} is on a read-only filesystem ({anchor}); choose a writable place.")
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise OutputError(f"{label} cannot be written: no permission to write in {anchor}.")
    free = shutil.disk_usage(anchor).free
    if free < max(need_bytes, MIN_FREE_BYTES):
        need = f", and it needs about {_mb(need_bytes)}" if need_bytes else ""
        raise OutputError(f"{label} is on a full filesystem ({_mb(free)} free in {anchor}{need}); free some space "
                          f"or choose another place.")
    if anchor == target.parent:
        sweep_stale(anchor)
    return target


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_outputs(outputs: Mapping[str, PathLike | None], *, inputs: Mapping[str, PathLike | None] | None = None,
                  folders: Mapping[str, PathLike | None] | None = None,
                  need_bytes: Mapping[str, int] | None = None) -> dict[str, Path]:
    """Check every output of a command at once (see ``check_location``), and that they do not collide.

    ``outputs`` and ``folders`` map a name ("--out", "the fp16 model") to a file
    or folder output (None: not written this time); ``inputs`` map a name to an
    input path. An output may not name the same file as another output or as an
    input. Returns the checked outputs as Paths.
    """
    need_bytes = need_bytes or {}
    checked: dict[str, Path] = {}
    for group, is_folder in ((outputs, False), (folders or {}, True)):
        for name, path in group.items():
            if path is not None:
                checked[name] = check_location(path, what=name, folder=is_folder, need_bytes=need_bytes.get(name, 0))
    names = list(checked)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            if _same(checked[first], checked[second]):
                raise OutputError(f"{first} and {second} both name {checked[first]}; give each its own path.")
    for out_name, out_path in checked.items():
        for in_name, in_path in (inputs or {}).items():
            if in_path is not None and Path(in_path).exists() and _same(out_path, Path(in_path)):
                raise OutputError(f"{out_name} {out_path} is {in_name} itself; choose another output path.")
            if in_path is not None and out_name in (folders or {}) and _inside(Path(in_path), out_path):
                raise OutputError(f"{in_name} {in_path} lies inside {out_name} {out_path}, which is replaced; "
                                  f"choose another output folder.")
    return checked


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def write_failure(exc: BaseException) -> str | None:
    """Why the filesystem refused a write, when ``exc`` (or what caused it) is such a refusal; else None.

    Besides an OSError with ENOSPC, EDQUOT, EFBIG or EROFS, torch's writer
    reports the same as a RuntimeError without errno ("file write failed").
    """
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _WRITE_ERRNOS:
            return _WRITE_ERRNOS[current.errno]
        if isinstance(current, RuntimeError) and ("file write failed" in str(current)
                                                  or "failed writing file" in str(current)):
            return "the filesystem refused the write (full, over quota or over a file-size limit)"
        current = current.__cause__ or current.__context__
    return None


def write_error(exc: BaseException, target: PathLike) -> OutputError | None:
    """An OutputError naming ``target`` when ``exc`` is a refused write (see ``write_failure``), else None."""
    reason = write_failure(exc)
    if reason is None:
        return None
    return OutputError(f"Writing {target} failed because {reason}; nothing was written there. Free some space "
                       f"(or choose another place) and run again.")


def refused_write_error(exc: BaseException) -> OutputError | None:
    """``write_error`` for a refused write anywhere (scratch folders included), naming the file when known."""
    reason = write_failure(exc)
    if reason is None:
        return None
    current: BaseException | None = exc
    while current is not None and not (isinstance(current, OSError) and current.filename):
        current = current.__cause__ or current.__context__
    where = f" {current.filename}" if current is not None else ""
    return OutputError(f"A write{' to' + where if where else ''} failed because {reason}; nothing was written. "
                       f"Free some space (or choose another place) and run again.")


@contextlib.contextmanager
def naming_refused_writes(what: str) -> Iterator[None]:
    """Inside this block a refused write (see ``write_failure``) becomes an OutputError naming ``what``."""
    try:
        yield
    except BaseException as exc:
        error = write_error(exc, what)
        if error is None:
            raise
        raise error from None
