"""SIGTERM handled like Ctrl-C, one exit code and one sentence for an interruption, quiet worker processes.

``timeout``, docker, Kubernetes, Slurm and torchrun stop a process with
SIGTERM, whose default action kills Python on the spot: no ``finally`` runs,
so staging folders and temporary models stay behind. ``handle_signals`` makes
SIGTERM raise ``Interrupted`` (a KeyboardInterrupt, so every cleanup written
for Ctrl-C runs for it too). A second signal while that cleanup runs is
remembered rather than raised, so the cleanup is not cut short. The exit code
is 128 + the signal number, as shells report it: 130 for SIGINT, 143 for SIGTERM.

Worker processes (``worker_init``) ignore SIGINT, so that Ctrl-C, which the
terminal sends to the whole process group, is handled once by the parent, which
then stops them; they die quietly on SIGTERM and when their parent dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import threading
from typing import Iterator

NAMES = {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM"}
_PR_SET_PDEATHSIG = 1


class Interrupted(KeyboardInterrupt):
    """A signal asked the process to stop; ``signum`` says which."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(NAMES.get(signum, f"signal {signum}"))
        self.signum = signum


def signal_of(exc: BaseException) -> int:
    """The signal behind a KeyboardInterrupt: its own for ``Interrupted``, SIGINT for a plain one."""
    return getattr(exc, "signum", signal.SIGINT)


def exit_code(exc: BaseException) -> int:
    """128 + the signal number: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + int(signal_of(exc))


def sentence(exc: BaseException, note: str | None = None) -> str:
    """The one line printed for an interruption; ``note`` says what was kept (default: nothing was written)."""
    name = NAMES.get(signal_of(exc), f"signal {signal_of(exc)}")
    return f"Interrupted by {name}; {note or 'nothing was written and temporary files were removed'}."


class _Handler:
    """Raises Interrupted for the first signal; later ones are only counted while the first unwinds."""

    def __init__(self) -> None:
        self.first: int | None = None

    def __call__(self, signum, frame) -> None:
        if self.first is not None:
            return
        self.first = signum
        raise Interrupted(signum)


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """Within this block SIGINT and SIGTERM raise ``Interrupted``; the previous handlers come back after.

    A signal whose handler is SIG_IGN (``nohup``, a background job) stays
    ignored. Outside the main thread signals cannot be handled, and nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = _Handler()
    saved = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        if previous is signal.SIG_IGN:
            continue
        saved[signum] = previous
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, previous in saved.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)


def worker_init() -> None:
    """Initializer for worker processes: the parent handles Ctrl-C; SIGTERM and the parent's death end them quietly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))  # Linux only
