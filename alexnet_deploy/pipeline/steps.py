"""The steps of a pipeline run: which command each one is, what goes into it and what it writes.

Every step is an ``alexnet-deploy`` command line, so the command the report
prints to reproduce a row is the one that ran, and each step keeps the checks,
the one-unit outputs and the signal handling its command already has. The
folder layout of a run (``runs/NAME``):

    <stem>.pt                                    (--train; otherwise --checkpoint is used where it is)
    <stem>.onnx, <stem>.fp16.onnx                export
    <stem>.int8.onnx, <stem>.int8-cpu.onnx       int8 (TensorRT layout, CPU layout)
    <stem>.fp16.engine, <stem>.int8.engine       engine-fp16, engine-int8 (where TensorRT and a GPU are)
    json/<step>.json                             each command's own record
    verify/, bench/                              their reports (markdown and plots)
    report.md, report.json, pipeline.json        the pipeline's report and its step records
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

PROGRAM = "alexnet-deploy"


@dataclass
class Step:
    """One command of the run."""

    name: str
    args: list[str]  # the command's arguments, after the program name
    files: list[Path] = field(default_factory=list)  # input files whose bytes key the step
    trees: list[Path] = field(default_factory=list)  # input folders whose contents key the step
    outputs: list[Path] = field(default_factory=list)  # files it writes
    folders: list[Path] = field(default_factory=list)  # folders it writes into (every file there is an output)
    cannot_run: str = ""  # why it cannot run on this machine (the step is then skipped)
    has_checks: bool = False  # exit code 1 means its checks failed and its outputs hold the numbers

    @property
    def command(self) -> str:
        return shlex.join([PROGRAM, *self.args])


@dataclass
class Options:
    """What the user asked for (paths as given)."""

    out: Path
    data: Path
    calib: Path
    min_calib_images: int = 32
    checkpoint: Path | None = None  # given; None when --train makes it
    arch: str | None = None
    recipe: str | None = None
    epochs: int | None = None
    backends: tuple[str, ...] = ()
    images: int | None = None
    warmup: str | None = None
    duration: str | None = None
    min_iterations: int | None = None


@dataclass
class Layout:
    """Where each artifact of a run lives."""

    out: Path
    checkpoint: Path
    stem: str

    @property
    def fp32(self) -> Path:
        return self.out / f"{self.stem}.onnx"

    @property
    def fp16(self) -> Path:
        return self.out / f"{self.stem}.fp16.onnx"

    @property
    def int8(self) -> Path:
        return self.out / f"{self.stem}.int8.onnx"

    @property
    def int8_cpu(self) -> Path:
        return self.out / f"{self.stem}.int8-cpu.onnx"

    def engine(self, precision: str) -> Path:
        return self.out / f"{self.stem}.{precision}.engine"

    def json(self, step: str) -> Path:
        return self.out / "json" / f"{step}.json"


def layout_of(options: Options) -> Layout:
    checkpoint = options.checkpoint or options.out / "alexnet.pt"
    return Layout(out=options.out, checkpoint=checkpoint, stem=checkpoint.stem)


def plan(options: Options, *, engines_unavailable: str) -> list[Step]:
    """The steps in order; ``engines_unavailable`` is why TensorRT engines cannot be built here ("" when they can)."""
    at = layout_of(options)
    steps: list[Step] = []
    if options.checkpoint is None:
        args = ["train", "--data", str(options.data), "--out", str(at.checkpoint), "--json", str(at.json("train"))]
        for flag, value in (("--arch", options.arch), ("--recipe", options.recipe), ("--epochs", options.epochs)):
            if value is not None:
                args += [flag, str(value)]
        steps.append(Step("train", args, trees=[options.data / "train", options.data / "val"],
                          outputs=[at.checkpoint, at.json("train")]))

    steps.append(Step("export", ["export", "--model", str(at.checkpoint), "--out", str(at.fp32), "--fp16",
                                 "--data", str(options.data), "--json", str(at.json("export"))],
                      files=[at.checkpoint], trees=[options.data / "val"],
                      outputs=[at.fp32, at.fp16, at.json("export")]))
    # No --data: verify scores every layout on every backend next, so quantize's own top-1 table would be
    # measured twice (about 45 s on the demo).
    steps.append(Step("int8", ["quantize", "--model", str(at.fp32), "--target", "all", "--calib", str(options.calib),
                               "--min-calib-images", str(options.min_calib_images), "--out", str(at.int8),
                               "--cache-dir", str(options.out / "calib-cache"), "--json", str(at.json("int8"))],
                      files=[at.fp32], trees=[options.calib],
                      outputs=[at.int8, at.int8_cpu, at.json("int8")]))

    engines = []
    for precision, source in (("fp16", at.fp16), ("int8", at.int8)):
        engine = at.engine(precision)
        steps.append(Step(f"engine-{precision}",
                          ["build-engine", "--model", str(at.fp32), f"--{precision}", "--out", str(engine),
                           "--timing-cache", str(options.out / "timing.cache"),
                           "--json", str(at.json(f"engine-{precision}"))],
                          files=[source], outputs=[engine, Path(f"{engine}.json"), at.json(f"engine-{precision}")],
                          cannot_run=engines_unavailable, has_checks=True))
        if not engines_unavailable:
            engines.append(engine)

    artifacts = [at.fp32, at.fp16, at.int8, at.int8_cpu, *engines]
    backend_args = [arg for name in options.backends for arg in ("--backend", name)]
    verify = ["verify", "--checkpoint", str(at.checkpoint), *map(str, artifacts), "--data", str(options.data),
              *backend_args, "--report", str(options.out / "verify"), "--json", str(at.json("verify"))]
    if options.images is not None:
        verify += ["--images", str(options.images)]
    steps.append(Step("verify", verify, files=[at.checkpoint, *artifacts], trees=[options.data / "val"],
                      outputs=[at.json("verify")], folders=[options.out / "verify"], has_checks=True))

    # The checkpoint is the baseline row (PyTorch fp32 on the CPU, or the GPU beside GPU rows) of every speed-up.
    bench = ["bench", *map(str, artifacts), *backend_args, "--checkpoint", str(at.checkpoint)]
    for flag, value in (("--warmup", options.warmup), ("--duration", options.duration),
                        ("--min-iterations", options.min_iterations)):
        if value is not None:
            bench += [flag, str(value)]
    bench += ["--report", str(options.out / "bench"), "--json", str(at.json("bench"))]
    steps.append(Step("bench", bench, files=[at.checkpoint, *artifacts], outputs=[at.json("bench")],
                      folders=[options.out / "bench"]))
    return steps
