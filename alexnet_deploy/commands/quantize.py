"""``alexnet-deploy quantize``: FP32 ONNX to INT8 QDQ ONNX, calibrated on images."""

from __future__ import annotations

import warnings

import click

from alexnet_deploy.commands.common import (
    DATA_HELP, OutputPath, Renamed, check_outputs, console, finish, json_option, model_option, need_onnxruntime,
    refuse_without, size_of,
)
from alexnet_deploy.commands.export import derived
from alexnet_deploy.core.limits import MAX_CHECK_IMAGES

METHOD_CHOICES = ("entropy", "minmax", "percentile")  # a test keeps it equal to calibration.METHODS
TARGET_CHOICES = ("trt", "cpu", "all")  # a test keeps it equal to targets.TARGETS
LAYOUT_NAMES = {"trt": "TensorRT layout", "cpu": "CPU layout"}


@click.command("quantize")
@model_option(help="The FP32 ONNX model made by `alexnet-deploy export`.", old=("--onnx",))
@click.option("--calib", required=True, type=click.Path(path_type=str),
              help="Calibration images: a folder (flat or one sub-folder per class) of JPEG/PNG, "
                   "or a .npy array (N, 3, S, S) float32 already preprocessed.")
@click.option("--out", type=OutputPath(example="model.int8.onnx"), default=None,
              help="Where to write the INT8 model [default: <model stem>.int8.onnx beside --model]; with --target "
                   "all the CPU layout goes beside it as <stem>.int8-cpu.onnx.")
@click.option("--target", type=click.Choice(TARGET_CHOICES), default="all", show_default=True,
              help="INT8 layout: trt (QDQ on Conv/Gemm inputs, what TensorRT builds), cpu (fused QDQ with LRN "
                   "lowered, fast on onnxruntime's CPU provider and OpenVINO) or all (both, one calibration).")
@click.option("--method", type=click.Choice(METHOD_CHOICES), default="entropy",
              show_default=True, help="How activation ranges are chosen from the calibration data.")
@click.option("--calib-images", "--num-images", "calib_images", cls=Renamed, type=click.IntRange(1, MAX_CHECK_IMAGES),
              default=512, show_default=True,
              help="Calibrate on at most this many images (an evenly spaced subset of the sorted files).")
@click.option("--min-calib-images", "--min-images", "min_calib_images", cls=Renamed,
              type=click.IntRange(1, MAX_CHECK_IMAGES), default=32, show_default=True,
              help="Refuse to calibrate on fewer images than this.")
@click.option("--data", "data_dir", type=click.Path(path_type=str), default=None,
              help=DATA_HELP + " Reports FP32, FP16 and INT8 top-1 side by side.")
@click.option("--max-drop", type=float, default=None,
              help="Largest INT8 top-1 drop vs FP32 in percentage points; layers go back to FP32 "
                   "until it holds (needs --data). Not met: exit code 1 and no model written.")
@click.option("--max-fp32-layers", type=click.IntRange(min=0), default=None,
              help="With --max-drop: put at most this many layers back in FP32 [default: any but all].")
@click.option("--eval-images", type=click.IntRange(1, MAX_CHECK_IMAGES), default=None,
              help="With --data: measure top-1 on at most this many images of the val split (default: all).")
@click.option("--cache-dir", type=OutputPath(folder=True), default=None,
              help="Calibration range cache (default: .calib-cache next to --out).")
@json_option
def quantize_command(model: str, calib: str, out: str | None, target: str, method: str, calib_images: int,
                     min_calib_images: int, data_dir: str | None, max_drop: float | None,
                     max_fp32_layers: int | None, eval_images: int | None, cache_dir: str | None,
                     json_out: str | None) -> None:
    """Quantize an FP32 ONNX model to INT8 QDQ: the TensorRT layout, the CPU layout, or both."""
    from pathlib import Path

    need_onnxruntime()
    # Refuse conflicting flags and unusable outputs before any work (and before anything is written).
    refuse_without({"eval_images": "data_dir"})
    from alexnet_deploy.precision.fallback import check_max_drop

    check_max_drop(max_drop, has_data=data_dir is not None, max_layers=max_fp32_layers)
    from alexnet_deploy.precision.targets import target_outputs

    out = out or derived(model, ".int8.onnx")
    cache_dir = cache_dir or str(Path(out).parent / ".calib-cache")
    # One entry per file written: --out, and with --target all the CPU layout beside it.
    written = {("--out" if str(path) == str(out) else "the CPU INT8 model"): str(path)
               for path in target_outputs(out, target).values()}
    check_outputs({**written, "--json": json_out}, folders={"--cache-dir": cache_dir},
                  inputs={"--model": model, "--calib": calib},
                  need_bytes={name: size_of(model) // 3 for name in written})

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    from alexnet_deploy.precision.calibration import CacheWarning
    from alexnet_deploy.precision.quantize import QuantizeConfig
    from alexnet_deploy.precision.targets import build_targets

    config = QuantizeConfig(method=method, num_images=calib_images, min_images=min_calib_images)
    bars = console(stderr=True)
    labels = {"calibrate": "Calibrating (images)", "evaluate": "Top-1 on the val split (models)",
              "fallback": "Fallback trials (layers)"}
    with Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=bars, transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CacheWarning)
            result = build_targets(model, calib, out, target=target, config=config, cache_dir=cache_dir,
                                   data_dir=data_dir, max_drop=max_drop, max_fp32_layers=max_fp32_layers,
                                   eval_limit=eval_images, progress=progress)
    for w in caught:  # a damaged cache is worth one plain line, not a source-code excerpt
        if issubclass(w.category, CacheWarning):
            bars.print(Text.assemble(("Warning: ", "yellow"), str(w.message)))
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    for built in result.results:
        _print_result(console(), built)
    finish(result, json_out)


def _print_result(console, result) -> None:
    from rich.table import Table

    if result.cache_hit:
        console.print(f"Calibration cache hit: reused the ranges in {result.cache_file} (calibration skipped).")
    else:
        console.print(f"Calibrated on {result.num_images} images from {result.calib_source} "
                      f"with {result.method} in {result.calibration_seconds:.1f} s; ranges cached in {result.cache_file}.")
    share = 100.0 * result.int8_bytes / max(result.fp32_bytes, 1)
    what = "Wrote" if result.written else "Did not write"
    console.print(f"{what} {result.out} ({LAYOUT_NAMES[result.layout]}): {len(result.quantized_nodes)} layers in "
                  f"INT8, {result.int8_bytes / 2**20:.1f} MiB ({share:.0f}% of FP32).")
    if result.lowering is not None:
        console.print(f"  LRN lowered to plain ops; FP32 lowered vs native: {result.lowering.describe()}.")
    if result.top1:
        table = Table(title=f"Top-1 on {result.eval_images} val images (onnxruntime CPU, {result.layout} layout), "
                            f"scored as verify scores")
        for column in ("precision", "top-1 %", "vs FP32 (pp)", "agree %", "max |logit err|", "verify"):
            table.add_column(column, justify="left" if column == "precision" else "right")
        base = result.top1.get("fp32")
        for name in ("fp32", "fp16", "int8 before fallback", "int8"):
            if name not in result.top1:
                continue
            value = result.top1[name]
            if value is None:
                table.add_row(name, "not available", "")
                continue
            row = result.scores.get(name)
            verdict = "" if row is None else ("PASS" if row else "FAIL")
            table.add_row(name, f"{value:.2f}", f"{value - base:+.2f}" if base is not None else "",
                          "" if row is None else f"{row.agreement:.2f}",
                          "" if row is None else f"{row.stats.max_abs:.3g}", verdict)
        console.print(table)
        limits = {row.precision: row.preset.describe() for row in result.scores.values()}
        if limits:
            console.print("verify's limits against FP32: " + "; ".join(f"{k}: {v}" for k, v in limits.items()))
    fb = result.fallback
    if fb is not None:
        if not fb.ranking:
            within = "is within" if fb else "is over, and --max-fp32-layers 0 lets no layer back to FP32 for"
            console.print(f"INT8 drop {fb.fp32_top1 - fb.int8_top1:.2f} pp {within} --max-drop {fb.max_drop}; "
                          f"no layer kept in FP32.")
        else:
            table = Table(title="Fallback ranking: top-1 with this layer alone in FP32")
            for column in ("layer", "top-1 %", "recovered (pp)", "kept FP32"):
                table.add_column(column, justify="left" if column == "layer" else "right")
            for trial in fb.ranking:
                kept = "yes" if trial.node in fb.excluded else ""
                table.add_row(trial.node, f"{trial.top1:.2f}", f"{trial.recovered_pp:+.2f}", kept)
            console.print(table)
            console.print(f"Kept {len(fb.excluded)} layer(s) in FP32: {', '.join(fb.excluded)}; INT8 top-1 "
                          f"{fb.final_top1:.2f} % (drop {fb.final_drop:.2f} pp, budget {fb.max_drop} pp).")


COMMANDS = [quantize_command]
