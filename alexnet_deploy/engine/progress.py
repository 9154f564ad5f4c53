"""TensorRT's build progress as plain events, for a progress bar (the calls: TensorRT runs them)."""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

# (event, phase, done, total): event is "start", "step" or "finish"; phase names nest under their parent.
ProgressReport = Callable[[str, str, int, int], None]


def progress_monitor(trt: ModuleType, report: ProgressReport) -> Any:
    """A ``trt.IProgressMonitor`` that turns TensorRT's phases and steps into ``report`` calls.

    TensorRT calls it from its build thread; an exception in ``report`` must
    not unwind into TensorRT, so it is kept and the build goes on.
    """

    class BuildProgress(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.totals: dict[str, int] = {}
            self.error: BaseException | None = None

        def _report(self, event: str, phase: str, done: int, total: int) -> None:
            try:
                report(event, phase, done, total)
            except Exception as exc:  # keep the first; the bar is a nicety, the build is not
                self.error = self.error or exc

        def phase_start(self, phase_name, parent_phase, num_steps):
            self.totals[phase_name] = int(num_steps)
            self._report("start", phase_name, 0, int(num_steps))

        def step_complete(self, phase_name, step):
            self._report("step", phase_name, int(step) + 1, self.totals.get(phase_name, 0))
            return True  # False would ask TensorRT to stop the build

        def phase_finish(self, phase_name):
            total = self.totals.pop(phase_name, 0)
            self._report("finish", phase_name, total, total)

    return BuildProgress()
