"""``alexnet-deploy build-engine``: a TensorRT engine (10.x or 11.x) from an fp32, fp16 or INT8 ONNX model.

The command chains stages: it picks (or makes, through ``precision``) the ONNX
model that carries the asked precision, then hands it to ``engine.build``.
Everything that can be refused is refused before any work: conflicting flags,
an INT8 build without calibration images (never random data), a stale fp16 or
INT8 sibling, a machine without TensorRT or without a usable GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from alexnet_deploy.commands.common import (
    OutputPath, Renamed, check_outputs, console as plain_console, finish, json_option, model_option, size_of,
)
from alexnet_deploy.errors import CheckFailed, InputError


@dataclass(frozen=True)
class SourcePlan:
    """Which ONNX model the engine is parsed from, and what must be made first."""

    build_from: Path
    precision: str
    make: str = ""  # "" | "fp16" | "int8": made from ``fp32`` before the build


def sibling(fp32: Path, precision: str) -> Path:
    """``models/alexnet.onnx`` -> ``models/alexnet.<precision>.onnx`` (``precision.fp16.fp16_path``'s rule)."""
    return fp32.with_name(f"{fp32.name.removesuffix('.onnx')}.{precision}.onnx")


def plan_source(onnx: Path, meta, *, fp16: bool, int8: bool, calib: str | None, data: str | None) -> SourcePlan:
    """The ONNX model to build from (pure but for reading siblings' metadata); InputError for what cannot be."""
    from alexnet_deploy.artifacts.onnx_meta import read_meta
    from alexnet_deploy.core.fsutil import sha256_file

    if fp16 and int8:
        raise InputError("--fp16 and --int8 ask for two engines; build them one at a time.")
    if calib and not int8:
        raise InputError("--calib quantizes the fp32 model for --int8; add --int8 or drop --calib.")
    if data and not fp16:
        raise InputError("--data picks the images of the fp16 conversion; add --fp16 or drop --data.")
    have = meta.precision
    want = "fp16" if fp16 else "int8" if int8 else have
    if have == want:
        if calib:
            raise InputError(f"{onnx} is already INT8, so --calib has nothing to quantize; drop --calib or pass "
                             f"the fp32 model.")
        return SourcePlan(onnx, want)
    if have != "fp32":
        raise InputError(f"{onnx} is a {have} model; --{want} starts from the fp32 model made by "
                         f"alexnet-deploy export.")
    target = sibling(onnx, want)
    if want == "int8" and calib:
        return SourcePlan(target, want, make="int8")
    if not target.is_file():
        if want == "fp16":
            return SourcePlan(target, want, make="fp16")
        raise InputError(f"--int8 needs calibration images: pass --calib DIR (a folder of real images; random data "
                         f"is never used), or quantize first with alexnet-deploy quantize --out {target}.")
    theirs = read_meta(target)
    if want == "fp16":
        fresh = theirs.precision == "fp16" and meta.source_sha256 and theirs.source_sha256 == meta.source_sha256
    else:
        fresh = theirs.precision == "int8" and theirs.extra.get("int8_source_onnx_sha256") == sha256_file(onnx)
    if not fresh:
        how = "convert it again (alexnet-deploy convert)" if want == "fp16" else "add --calib DIR to quantize again"
        raise InputError(f"{target} was not made from {onnx}; delete it or {how}.")
    return SourcePlan(target, want)


def check_int8_layout(path: Path) -> None:
    """Refuse an INT8 model whose Q/DQ layout TensorRT would not build as INT8."""
    from alexnet_deploy.artifacts.onnx_meta import load_onnx
    from alexnet_deploy.precision.qdq import qdq_problems

    model = load_onnx(path)
    if not any(node.op_type == "DequantizeLinear" for node in model.graph.node):
        raise InputError(f"{path} says it is INT8 but has no Q/DQ nodes, so TensorRT would build it in float; make "
                         f"it with alexnet-deploy quantize or build-engine --int8 --calib.")
    problems = qdq_problems(model)
    if problems:
        raise InputError(f"{path} is not in the TensorRT INT8 layout ({problems[0]}); make it with alexnet-deploy "
                         f"quantize or build-engine --int8 --calib.")


def make_source(plan: SourcePlan, fp32: Path, meta, *, calib: str | None, data: str | None, console) -> None:
    """Write the fp16 or INT8 model the plan needs, from the fp32 one."""
    from rich.text import Text

    if plan.make == "fp16":
        from alexnet_deploy.data.samples import image_batch
        from alexnet_deploy.precision.fp16 import convert_fp16

        with console.status(Text(f"Converting {fp32} to fp16 (LRN stays fp32)...")):
            images, source = image_batch(meta, data_dir=data, count=64 if data else 16)
            result = convert_fp16(fp32, plan.build_from, calib_images=images, image_source=source)
        if not result:  # nothing was written: the fp16 model disagreed with the fp32 one
            raise CheckFailed(f"no engine built: {'; '.join(result.failures())}")
        console.print(f"Wrote {result.out} (fp16; fp16 vs fp32: {result.parity.describe()})")
    elif plan.make == "int8":
        from alexnet_deploy.precision.quantize import build_int8

        with console.status(Text(f"Calibrating on {calib} and quantizing {fp32} to INT8...")):
            result = build_int8(fp32, calib, plan.build_from)
        if not result:
            raise CheckFailed(f"no engine built: {'; '.join(result.failures())}")
        how = "cached ranges" if result.cache_hit else f"{result.num_images} images"
        console.print(f"Wrote {result.out} (INT8 from {how}, {len(result.quantized_nodes)} layers quantized)")


@click.command("build-engine")
@model_option(help="The ONNX model made by alexnet-deploy export (fp32), convert (fp16) or quantize (INT8).",
              old=("--onnx",))
@click.option("--fp16/--no-fp16", default=False,
              help="Build from <stem>.fp16.onnx (made from the fp32 model when missing).")
@click.option("--int8/--no-int8", default=False,
              help="Build from the INT8 Q/DQ model <stem>.int8.onnx (or quantize with --calib).")
@click.option("--calib", type=click.Path(path_type=str), default=None,
              help="With --int8: calibration images to quantize the fp32 model with (real images only).")
@click.option("--data", type=click.Path(path_type=str), default=None,
              help="With --fp16: images for the fp16 conversion's check (default: drawn images).")
@click.option("--batch-dim", "--batch", "batch", cls=Renamed, default=None,
              help="The engine's batch dimension: a profile MIN:OPT:MAX, or one size [default: 1:8:32, or the "
                   "model's fixed batch].")
@click.option("--workspace", default="2G", show_default=True, help="Builder workspace limit, e.g. 512M, 4G.")
@click.option("--opt-level", type=click.IntRange(0, 5), default=3, show_default=True,
              help="Builder optimization level, 0 to 5.")
@click.option("--timing-cache", type=OutputPath(example="timing.cache"), default=None,
              help="Timing cache file shared between builds (read and merged under a file lock).")
@click.option("--out", type=OutputPath(example="model.engine"), default=None,
              help="Engine file [default: <model folder>/<stem>.<precision>.engine]; the sidecar is <out>.json.")
@click.option("--rebuild/--no-rebuild", default=False, show_default=True,
              help="Build even when --out holds an engine with the same cache key.")
@json_option
def build_engine_command(model: str, fp16: bool, int8: bool, calib: str | None, data: str | None,
                         batch: str | None, workspace: str, opt_level: int, timing_cache: str | None,
                         out: str | None, rebuild: bool, json_out: str | None) -> None:
    """Build a TensorRT engine (strongly typed; TensorRT 10 or 11) with a JSON sidecar beside it."""
    from alexnet_deploy.engine.build import open_toolchain
    from alexnet_deploy.engine.plan import BuildOptions, default_engine_path, parse_batch, parse_size, profile_shapes
    from alexnet_deploy.engine.source import read_source

    onnx_path = Path(model)
    profile = parse_batch(batch) if batch is not None else None
    workspace_bytes = parse_size(workspace)
    given = read_source(onnx_path)  # fp16 and INT8 models made from it keep its input
    meta = given.meta
    profile_shapes(given.input_name, given.input_dims, batch=profile, input_size=meta.input_size)
    plan = plan_source(onnx_path, meta, fp16=fp16, int8=int8, calib=calib, data=data)
    options = BuildOptions(precision=plan.precision, batch=profile, workspace=workspace_bytes, opt_level=opt_level)
    out = Path(out) if out else default_engine_path(onnx_path, plan.precision)
    if out.suffix.lower() not in (".engine", ".plan"):
        raise InputError(f"--out {out} should end in .engine (or .plan), so other commands know it is an engine.")
    outputs = {"--out": out, "the sidecar": f"{out}.json", "--json": json_out, "--timing-cache": timing_cache}
    if plan.make:
        outputs[f"the {plan.precision} model"] = plan.build_from
    check_outputs(outputs,
                  inputs={"--model": onnx_path, "--calib": calib, "--data": data},
                  need_bytes={"--out": size_of(onnx_path)})
    toolchain = open_toolchain()  # TensorRT and a GPU, before anything is made or written
    console = plain_console(stderr=True)
    make_source(plan, onnx_path, meta, calib=calib, data=data, console=console)
    if plan.precision == "int8":
        check_int8_layout(plan.build_from)
    source = given if plan.build_from == onnx_path else read_source(plan.build_from)
    result = _build_with_progress(source, out, options, toolchain, Path(timing_cache) if timing_cache else None,
                                  rebuild, console)
    _print_result(result)
    finish(result, json_out)


def _build_with_progress(source, out: Path, options, toolchain, timing_cache, rebuild, console):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from alexnet_deploy.engine.build import build_engine

    with Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        tasks: dict[str, int] = {}

        def report(event: str, phase: str, done: int, total: int) -> None:
            if event == "start":
                tasks[phase] = bar.add_task(phase, total=max(total, 1))
            elif phase in tasks:
                bar.update(tasks[phase], completed=done)
                if event == "finish":
                    bar.remove_task(tasks.pop(phase))

        return build_engine(source, out, options=options, toolchain=toolchain, timing_cache_file=timing_cache,
                            rebuild=rebuild, progress=report)


def _print_result(result) -> None:
    car = result.sidecar
    if not result.written:
        click.echo(f"Built an engine from {car.onnx} but did not write it at {result.out}: its check failed.")
        return
    batch = ":".join(str(b) for b in car.options["batch"])
    if result.cache_hit:
        click.echo(f"Engine cache hit: {result.out} was built from the same ONNX with TensorRT {car.tensorrt_version} "
                   f"for {car.gpu_name} and the same options (key {car.key[:12]}); nothing rebuilt.")
        return
    click.echo(f"Wrote {result.out} ({car.engine_bytes / 1e6:.1f} MB, {car.precision}, TensorRT "
               f"{car.tensorrt_version}, {car.gpu_name} sm {car.compute_capability}, batch {batch}) "
               f"in {car.build_seconds:.1f} s")
    counts = ", ".join(f"{n} {p}" for p, n in car.layer_precisions.items())
    click.echo(f"  layers: {len(car.layers)} ({counts}); sidecar {result.out}.json")
    if result.rebuilt_because:
        click.echo(f"  rebuilt because these changed: {', '.join(result.rebuilt_because)}")


COMMANDS = [build_engine_command]
