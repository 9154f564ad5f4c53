"""Run the steps one after another, each as its own ``alexnet-deploy`` process, skipping what is unchanged.

A step whose key matches its record and whose outputs still hold the recorded
bytes is skipped. After each finished step the manifest is written (as its own
unit, outside the command's transaction), so a run stopped by a failure, Ctrl-C
or SIGTERM resumes after the last finished step. An interruption is passed on
to the running step, which cleans up as its command does, before the run stops.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from alexnet_deploy import __version__
from alexnet_deploy.core.interrupts import Interrupted, signal_of
from alexnet_deploy.core.transaction import transaction
from alexnet_deploy.errors import CheckFailed, DeployError
from alexnet_deploy.pipeline.manifest import Manifest, StepRecord
from alexnet_deploy.pipeline.steps import Step


class StepFailed(DeployError):
    """A step refused its input or crashed (its command printed why); the run stops there with exit code 2."""

    def __init__(self, step: Step, code: int) -> None:
        super().__init__(f"the {step.name} step failed (exit code {code}) running: {step.command}. The steps before "
                         "it are kept; fix the cause and run the same pipeline command again to resume there.")
        self.code = code


def run_steps(steps: list[Step], *, out: Path, manifest: Manifest, say: Callable[[str], None]) -> list[StepRecord]:
    """Run or skip every step in order; returns their records (also saved in ``out/pipeline.json``)."""
    records = []
    for number, step in enumerate(steps, 1):
        label = f"[{number}/{len(steps)}] {step.name}"
        if step.cannot_run:
            record = StepRecord(name=step.name, status="skipped", reason=step.cannot_run, command=step.command)
            manifest.steps[step.name] = record
            say(f"{label}: skipped: {step.cannot_run}")
        else:
            key = manifest.key(step.name, files=step.files, trees=step.trees,
                               settings={"args": step.args, "version": __version__})
            if manifest.unchanged(step.name, key):
                record = manifest.steps[step.name]
                say(f"{label}: inputs unchanged since it finished, kept ({_outcome(record)})")
            else:
                say(f"{label}: {step.command}")
                try:
                    record = _run(step, key, manifest)
                finally:
                    _save(manifest, out)  # a failed step's record too
                say(f"{label}: {_outcome(record)} in {record.seconds:.1f} s")
        _save(manifest, out)
        records.append(record)
    return records


def _outcome(record: StepRecord) -> str:
    return "done" if record.passed else "done, its checks failed"


def _run(step: Step, key: str, manifest: Manifest) -> StepRecord:
    started = time.monotonic()
    code = _call(step.args)
    seconds = time.monotonic() - started
    outputs = [p for p in step.outputs if p.is_file()]
    outputs += sorted(p for folder in step.folders if folder.is_dir() for p in folder.rglob("*") if p.is_file())
    if code == 0 or (code == 1 and step.has_checks and len(outputs) >= len(step.outputs)):
        return manifest.finish(step.name, key, outputs, seconds=seconds, command=step.command, passed=code == 0)
    manifest.steps[step.name] = StepRecord(name=step.name, status="failed", seconds=round(seconds, 3),
                                           reason=f"exit code {code}", command=step.command)
    if code == 1:  # a check of the step failed (export's parity gate, an INT8 budget): the run's verdict too
        raise CheckFailed(f"the {step.name} step stopped the run (its message is above): {step.command}")
    raise StepFailed(step, code)


def _call(args: list[str]) -> int:
    """Run ``alexnet-deploy ARGS`` with this interpreter; an interruption reaches it and is raised when it is done."""
    child = subprocess.Popen([sys.executable, "-m", "alexnet_deploy", *args])
    try:
        code = child.wait()
    except KeyboardInterrupt as exc:
        # Ctrl-C reached the child too (one process group); SIGTERM came to us alone: pass it on either way.
        if child.poll() is None:
            child.send_signal(signal_of(exc))
        _wait_out(child)
        raise
    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM, -signal.SIGINT, -signal.SIGTERM):
        raise Interrupted(signal.Signals(abs(code) % 128))  # stopped from outside: the run stops with it
    return code


def _wait_out(child: subprocess.Popen) -> None:
    """Wait for the child's cleanup; further signals meanwhile are not raised here (handle_signals counts them)."""
    while True:
        try:
            child.wait()
            return
        except KeyboardInterrupt:
            continue


def _save(manifest: Manifest, out: Path) -> None:
    with transaction(independent=True):  # kept even when a later step fails or the run is interrupted
        manifest.save(out)

