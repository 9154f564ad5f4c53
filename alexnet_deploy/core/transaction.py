"""All outputs of one command as one unit: every file appears, or none does.

Each output is written completely under a temporary name beside its target
(``fsutil.atomic_path``, ``artifacts.onnx_files.staged_output``) and then
handed to ``place``, which renames it into place. Inside a ``transaction`` an
earlier file at the target is not deleted but moved aside (into an
owner-tagged temporary folder beside it) until the transaction commits. When
the command fails, or is interrupted, after some outputs were placed, the
rollback removes them and puts the earlier files back: the model written
before a ``--json`` write failed is not left behind.

The CLI runs every command inside one transaction. Work that must outlive a
later failure (the checkpoints of finished training epochs) opens its own
``transaction(independent=True)``, which commits for good when its block ends.
Outside any transaction ``place`` renames at once, as a library caller expects.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from pathlib import Path
from typing import Iterator

from alexnet_deploy.core.tempfiles import owner_tag, remove

_CURRENT: contextvars.ContextVar["Transaction | None"] = contextvars.ContextVar("alexnet_deploy_transaction",
                                                                               default=None)


class Transaction:
    """Outputs placed so far, with the earlier files they replaced kept aside until ``commit``."""

    def __init__(self) -> None:
        self.placed: list[tuple[Path, Path | None]] = []  # (target, where the earlier file waits, or None)
        self._aside: dict[Path, Path] = {}  # target folder -> its folder of earlier files
        self.made: list[Path] = []  # folders created for outputs, outermost first

    def _aside_folder(self, folder: Path) -> Path:
        if folder not in self._aside:
            path = folder / f".replaced{owner_tag()}"
            path.mkdir()
            self._aside[folder] = path
        return self._aside[folder]

    def place(self, source: Path, target: Path) -> None:
        """Rename ``source`` onto ``target``; an earlier ``target`` waits aside until commit or rollback."""
        earlier = None
        if target.exists() or target.is_symlink():
            earlier = self._aside_folder(target.parent) / f"{len(self.placed)}-{target.name}"
            os.replace(target, earlier)
        try:
            os.replace(source, target)
        except BaseException:
            if earlier is not None:
                os.replace(earlier, target)
            raise
        self.placed.append((target, earlier))

    def commit(self) -> None:
        """Make the placed outputs final: the earlier files are deleted."""
        for folder in self._aside.values():
            remove(folder)
        self.placed, self._aside, self.made = [], {}, []

    def rollback(self) -> None:
        """Remove the placed outputs and put the earlier files back, newest first; drop folders made for them."""
        for target, earlier in reversed(self.placed):
            remove(target)
            if earlier is not None and (earlier.exists() or earlier.is_symlink()):
                os.replace(earlier, target)
        for folder in self._aside.values():
            remove(folder)
        for folder in reversed(self.made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: something else may have been put there meanwhile
        self.placed, self._aside, self.made = [], {}, []

    def adopt(self, other: "Transaction") -> None:
        """Take over ``other``'s placed outputs (a nested transaction that ended well)."""
        self.placed.extend(other.placed)
        self.made.extend(other.made)
        for folder, aside in other._aside.items():
            if folder in self._aside:
                for item in aside.iterdir():
                    os.replace(item, self._aside[folder] / item.name)
                remove(aside)
            else:
                self._aside[folder] = aside
        other.placed, other._aside, other.made = [], {}, []


def current() -> Transaction | None:
    """The transaction outputs go into now, if any."""
    return _CURRENT.get()


@contextlib.contextmanager
def transaction(*, independent: bool = False) -> Iterator[Transaction]:
    """Outputs placed in this block are one unit: kept when it ends normally, undone when it raises.

    A nested transaction hands its outputs to the enclosing one when it ends
    normally, unless ``independent``: then they are final at once.
    """
    outer = _CURRENT.get()
    tx = Transaction()
    token = _CURRENT.set(tx)
    try:
        yield tx
    except BaseException:
        _CURRENT.reset(token)
        tx.rollback()
        raise
    _CURRENT.reset(token)
    if outer is not None and not independent:
        outer.adopt(tx)
    else:
        tx.commit()


def place(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Rename a completely written ``source`` onto ``target``, inside the current transaction if any."""
    tx = _CURRENT.get()
    if tx is not None:
        tx.place(Path(source), Path(target))
        return
    with transaction() as once:
        once.place(Path(source), Path(target))


def make_parents(target: str | os.PathLike) -> None:
    """Create the missing folders above ``target``; a rollback of the current transaction removes them again."""
    missing = []
    folder = Path(target).parent
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue
        tx = _CURRENT.get()
        if tx is not None:
            tx.made.append(path)
