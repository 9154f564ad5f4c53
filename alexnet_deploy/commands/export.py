"""``export`` (checkpoint to ONNX, optionally fp16 too) and ``convert`` (ONNX fp32 to fp16)."""

from __future__ import annotations

import click

from alexnet_deploy.commands.common import finish, json_option, need_onnxruntime
from alexnet_deploy.errors import InputError

IMAGES_HELP = ("Images for the check: a dataset root (its val/ split is used) or a folder of images, "
               "flat or in class folders; default: drawn images.")


def _batch(value: str) -> str | int:
    if value == "dynamic":
        return value
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise click.BadParameter(f"{value!r} is neither 'dynamic' nor a positive integer.")


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _echo_fp16(result) -> None:
    kept = ", ".join(f"{k['node']} ({k['op']})" for k in result.kept_fp32) or "none"
    if result.written:
        click.echo(f"Wrote {result.out} ({_mb(result.size_bytes)}, fp16 with fp32 input/output; kept in fp32: {kept})")
    click.echo(f"  fp16 vs fp32: {result.parity.describe()}")


@click.command("export")
@click.option("--checkpoint", required=True, type=click.Path(path_type=str), help="Checkpoint (.pt) to export.")
@click.option("--out", required=True, type=click.Path(path_type=str), help="ONNX file to write, e.g. models/alexnet.onnx.")
@click.option("--opset", default=18, show_default=True, type=int, help="ONNX opset, 18 to 26.")
@click.option("--batch", default="dynamic", show_default=True, callback=lambda c, p, v: _batch(v),
              help="'dynamic' or a fixed batch size.")
@click.option("--data", type=click.Path(path_type=str), default=None,
              help=IMAGES_HELP + " Used for the parity check and fp16 calibration.")
@click.option("--parity-images", default=16, show_default=True, type=click.IntRange(min=1),
              help="Images compared between onnxruntime and PyTorch.")
@click.option("--fp16/--no-fp16", default=False, show_default=True, help="Also write <out stem>.fp16.onnx.")
@click.option("--margin", type=click.FloatRange(min=0, min_open=True, max=1), default=None,
              help="With --fp16: keep a node fp32 when its activations reach MARGIN x 65504 (default 1/16).")
@json_option
def export_command(checkpoint, out, opset, batch, data, parity_images, fp16, margin, json_out) -> None:
    """Export a checkpoint to ONNX (one LRN node per LRN layer) and check it against PyTorch."""
    from rich.console import Console

    from alexnet_deploy.artifacts.onnx_meta import read_meta
    from alexnet_deploy.commands.results import ExportRun
    from alexnet_deploy.data.samples import image_batch
    from alexnet_deploy.export.exporter import export_onnx
    from alexnet_deploy.precision.fp16 import DEFAULT_MARGIN, convert_fp16, fp16_path

    need_onnxruntime()
    if margin is not None and not fp16:
        raise InputError("--margin only applies to the fp16 model; add --fp16 or drop --margin.")
    console = Console(stderr=True)
    with console.status(f"Exporting {checkpoint} to ONNX and checking it against PyTorch..."):
        result = export_onnx(checkpoint, out, opset=opset, batch=batch, data_dir=data, parity_images=parity_images)
    if result.written:
        extra = f", external data {', '.join(result.external_data)}" if result.external_data else ""
        click.echo(f"Wrote {result.out} ({_mb(result.size_bytes)}, opset {result.opset}, batch {result.batch}, "
                   f"{result.lrn_nodes} LRN nodes{extra})")
    click.echo(f"  onnxruntime vs PyTorch: {result.parity.describe()}")
    fp16_result = None
    if fp16 and result:
        with console.status("Converting to fp16 (measuring activations, keeping LRN in fp32)..."):
            images, source = image_batch(read_meta(out), data_dir=data, count=64 if data else parity_images)
            fp16_result = convert_fp16(out, fp16_path(out), calib_images=images, margin=margin or DEFAULT_MARGIN,
                                       image_source=source)
        _echo_fp16(fp16_result)
    finish(ExportRun(export=result, fp16=fp16_result), json_out)


@click.command("convert")
@click.argument("model", type=click.Path(path_type=str))
@click.option("--out", type=click.Path(path_type=str), default=None, help="Default: <model stem>.fp16.onnx beside MODEL.")
@click.option("--data", type=click.Path(path_type=str), default=None,
              help=IMAGES_HELP + " Used for calibration and the agreement check.")
@click.option("--calib-images", default=64, show_default=True, type=click.IntRange(min=1),
              help="Images whose activations decide which nodes stay fp32.")
@click.option("--check-images", default=256, show_default=True, type=click.IntRange(min=1),
              help="Images on which fp16 must agree with fp32 (top-1, at least 99.5%).")
@click.option("--margin", type=click.FloatRange(min=0, min_open=True, max=1), default=1 / 16, show_default=True,
              help="Keep a node fp32 when its activations reach MARGIN x 65504.")
@json_option
def convert_command(model, out, data, calib_images, check_images, margin, json_out) -> None:
    """Convert an exported fp32 ONNX model to fp16 (LRN and overflow-prone nodes stay fp32)."""
    from rich.console import Console

    from alexnet_deploy.artifacts.onnx_meta import read_meta
    from alexnet_deploy.data.samples import image_batch
    from alexnet_deploy.precision.fp16 import convert_fp16, fp16_path

    need_onnxruntime()
    meta = read_meta(model)
    explicit = click.get_current_context().get_parameter_source("check_images") == click.core.ParameterSource.COMMANDLINE
    if data is None and explicit:
        raise InputError("--check-images needs --data (without it the check uses the drawn calibration images).")
    with Console(stderr=True).status(f"Converting {model} to fp16..."):
        calib, source = image_batch(meta, data_dir=data, count=calib_images if data else 16)
        check = image_batch(meta, data_dir=data, count=check_images)[0] if data else None
        result = convert_fp16(
            model, out or fp16_path(model), calib_images=calib, check_images=check, margin=margin, image_source=source
        )
    _echo_fp16(result)
    finish(result, json_out)


COMMANDS = [export_command, convert_command]
