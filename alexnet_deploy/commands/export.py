"""``export`` (checkpoint to ONNX, optionally fp16 too) and ``convert`` (ONNX fp32 to fp16)."""

from __future__ import annotations

import click

from alexnet_deploy.commands.common import (
    OutputPath, Renamed, check_outputs, console, finish, json_option, model_option, need_onnxruntime,
    refuse_without, size_of,
)
from alexnet_deploy.core.limits import MAX_CHECK_IMAGES, MAX_DRAWN_IMAGES
from alexnet_deploy.errors import InputError

IMAGES_HELP = ("Images for the check: a dataset root (its val/ split is used) or a folder of images, "
               "flat or in class folders; default: drawn images.")
MIN_OPSET, MAX_OPSET = 18, 26  # a test keeps them equal to export.exporter's


def _batch(value: str) -> str | int:
    if value == "dynamic":
        return value
    if value.isdigit() and 0 < int(value) <= 65_536:
        return int(value)
    raise click.BadParameter(f"{value!r} is neither 'dynamic' nor an integer from 1 to 65536.")


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _echo_fp16(result) -> None:
    kept = ", ".join(f"{k['node']} ({k['op']})" for k in result.kept_fp32) or "none"
    if result.written:
        click.echo(f"Wrote {result.out} ({_mb(result.size_bytes)}, fp16 with fp32 input/output; kept in fp32: {kept})")
    click.echo(f"  fp16 vs fp32: {result.parity.describe()}")


def derived(model: str, suffix: str) -> str:
    """``models/alexnet.pt`` + ``.onnx`` -> ``models/alexnet.onnx``: a default --out beside the model."""
    from pathlib import Path

    path = Path(model)
    return str(path.with_name(f"{path.stem if path.suffix else path.name}{suffix}"))


def _drawn_limit(count: int, data: str | None, flag: str) -> None:
    if data is None and count > MAX_DRAWN_IMAGES:
        raise InputError(f"{flag} {count} asks for more drawn images than {MAX_DRAWN_IMAGES}; pass --data with "
                         f"your own images or ask for fewer.")


@click.command("export")
@model_option(help="Checkpoint (.pt) to export.", old=("--checkpoint",))
@click.option("--out", type=OutputPath(example="model.onnx"), default=None,
              help="ONNX file to write [default: <model stem>.onnx beside --model].")
@click.option("--opset", default=18, show_default=True, type=click.IntRange(MIN_OPSET, MAX_OPSET),
              help=f"ONNX opset, {MIN_OPSET} to {MAX_OPSET}.")
@click.option("--batch-dim", "--batch", "batch", cls=Renamed, default="dynamic", show_default=True,
              callback=lambda c, p, v: _batch(v), help="The model's batch dimension: 'dynamic' or a fixed size.")
@click.option("--data", type=click.Path(path_type=str), default=None,
              help=IMAGES_HELP + " Used for the parity check and fp16 calibration.")
@click.option("--check-images", "--parity-images", "check_images", cls=Renamed, default=16, show_default=True,
              type=click.IntRange(1, MAX_CHECK_IMAGES), help="Images compared between onnxruntime and PyTorch.")
@click.option("--fp16/--no-fp16", default=False, show_default=True, help="Also write <out stem>.fp16.onnx.")
@click.option("--margin", type=click.FloatRange(min=0, min_open=True, max=1), default=None,
              help="With --fp16: keep a node fp32 when its activations reach MARGIN x 65504 (default 1/16).")
@json_option
def export_command(model, out, opset, batch, data, check_images, fp16, margin, json_out) -> None:
    """Export a checkpoint to ONNX (one LRN node per LRN layer) and check it against PyTorch."""
    from rich.text import Text

    need_onnxruntime()
    refuse_without({"margin": "fp16"})
    _drawn_limit(check_images, data, "--check-images")
    from alexnet_deploy.precision.fp16 import fp16_path

    out = out or derived(model, ".onnx")
    fp16_out = str(fp16_path(out)) if fp16 else None
    check_outputs({"--out": out, "the fp16 model": fp16_out, "--json": json_out}, inputs={"--model": model},
                  need_bytes={"--out": size_of(model), "the fp16 model": size_of(model) // 2})

    from alexnet_deploy.artifacts.onnx_meta import read_meta
    from alexnet_deploy.commands.results import ExportRun
    from alexnet_deploy.data.samples import image_batch
    from alexnet_deploy.export.exporter import export_onnx
    from alexnet_deploy.precision.fp16 import DEFAULT_MARGIN, convert_fp16

    status = console(stderr=True)
    with status.status(Text(f"Exporting {model} to ONNX and checking it against PyTorch...")):
        result = export_onnx(model, out, opset=opset, batch=batch, data_dir=data, parity_images=check_images)
    if result.written:
        extra = f", external data {', '.join(result.external_data)}" if result.external_data else ""
        click.echo(f"Wrote {result.out} ({_mb(result.size_bytes)}, opset {result.opset}, batch {result.batch}, "
                   f"{result.lrn_nodes} LRN nodes{extra})")
    click.echo(f"  onnxruntime vs PyTorch: {result.parity.describe()}")
    fp16_result = None
    if fp16 and result:
        with status.status(Text("Converting to fp16 (measuring activations, keeping LRN in fp32)...")):
            images, source = image_batch(read_meta(out), data_dir=data, count=64 if data else check_images)
            fp16_result = convert_fp16(out, fp16_out, calib_images=images, margin=margin or DEFAULT_MARGIN,
                                       image_source=source)
        _echo_fp16(fp16_result)
    finish(ExportRun(export=result, fp16=fp16_result), json_out)


@click.command("convert")
@model_option(help="The fp32 ONNX model made by `alexnet-deploy export`.")
@click.option("--out", type=OutputPath(example="model.fp16.onnx"), default=None,
              help="Default: <model stem>.fp16.onnx beside --model.")
@click.option("--data", type=click.Path(path_type=str), default=None,
              help=IMAGES_HELP + " Used for calibration and the agreement check.")
@click.option("--calib-images", default=64, show_default=True, type=click.IntRange(1, MAX_CHECK_IMAGES),
              help="With --data: images whose activations decide which nodes stay fp32 (without: 16 drawn ones).")
@click.option("--check-images", default=256, show_default=True, type=click.IntRange(1, MAX_CHECK_IMAGES),
              help="With --data: images on which fp16 must agree with fp32 (top-1, at least 99.5%).")
@click.option("--margin", type=click.FloatRange(min=0, min_open=True, max=1), default=1 / 16, show_default=True,
              help="Keep a node fp32 when its activations reach MARGIN x 65504.")
@json_option
def convert_command(model, out, data, calib_images, check_images, margin, json_out) -> None:
    """Convert an exported fp32 ONNX model to fp16 (LRN and overflow-prone nodes stay fp32)."""
    from rich.text import Text

    need_onnxruntime()
    refuse_without({"calib_images": "data", "check_images": "data"},
                   why={"calib_images": "without it 16 drawn images calibrate",
                        "check_images": "without it the drawn calibration images are the check"})
    from alexnet_deploy.precision.fp16 import convert_fp16, fp16_path

    out = out or str(fp16_path(model))
    check_outputs({"--out": out, "--json": json_out}, inputs={"--model": model},
                  need_bytes={"--out": size_of(model) // 2})

    from alexnet_deploy.artifacts.onnx_meta import read_meta
    from alexnet_deploy.data.samples import image_batch

    meta = read_meta(model)
    with console(stderr=True).status(Text(f"Converting {model} to fp16...")):
        calib, source = image_batch(meta, data_dir=data, count=calib_images if data else 16)
        check = image_batch(meta, data_dir=data, count=check_images)[0] if data else None
        result = convert_fp16(model, out, calib_images=calib, check_images=check, margin=margin, image_source=source)
    _echo_fp16(result)
    finish(result, json_out)


COMMANDS = [export_command, convert_command]
