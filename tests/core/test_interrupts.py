"""SIGTERM is handled like Ctrl-C: an Interrupted exception, 143 as the exit code, one sentence."""

from __future__ import annotations

import os
import signal

import pytest

from alexnet_deploy.core import interrupts


def test_sigterm_raises_interrupted_and_the_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt) as caught:
        with interrupts.handle_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs between bytecodes
                pass
    assert isinstance(caught.value, interrupts.Interrupted)
    assert interrupts.exit_code(caught.value) == 143
    assert interrupts.sentence(caught.value) == ("Interrupted by SIGTERM; nothing was written and temporary files "
                                                 "were removed.")
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_second_signal_does_not_cut_the_cleanup_short():
    cleaned = []
    with pytest.raises(interrupts.Interrupted) as caught:
        with interrupts.handle_signals():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):
                    pass
            finally:
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(1000):
                    pass
                cleaned.append(True)
    assert cleaned == [True]
    assert interrupts.exit_code(caught.value) == 130


def test_an_ignored_signal_stays_ignored():
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with interrupts.handle_signals():
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_plain_keyboard_interrupt_counts_as_sigint():
    assert interrupts.exit_code(KeyboardInterrupt()) == 130
    assert "SIGINT" in interrupts.sentence(KeyboardInterrupt(), "the finished epochs are kept")
