"""``alexnet-deploy verify``: artifacts against the PyTorch fp32 model, on every backend, with accuracy and errors."""

from __future__ import annotations

import click

from alexnet_deploy.commands.common import DATA_HELP, OutputPath, check_outputs, console, finish, json_option

LIMIT_HELP = "[PRECISION=]VALUE, repeatable; 'PRECISION=off' drops the check."
REFERENCE_CHOICES = ("cpu", "cuda")


@click.command("verify")
@click.argument("artifacts", nargs=-1, type=click.Path(path_type=str))
@click.option("--checkpoint", required=True, type=click.Path(path_type=str),
              help="The PyTorch checkpoint the artifacts were made from: the reference.")
@click.option("--backend", "backends", multiple=True,
              help="Run the artifacts on this backend (repeatable); default: every backend here that runs them.")
@click.option("--data", "data_dir", type=click.Path(path_type=str), default=None,
              help=DATA_HELP + " With --no-accuracy any folder of images does, and without --data drawn images.")
@click.option("--images", type=click.IntRange(min=1), default=None,
              help="Compare on at most this many images (an evenly spaced subset) [default: all].")
@click.option("--accuracy/--no-accuracy", default=True, show_default=True,
              help="Measure top-1/top-5 on labelled images (--no-accuracy compares outputs only).")
@click.option("--per-layer/--no-per-layer", default=False, show_default=True,
              help="Compare every layer's output with PyTorch's and name the first and the worst past tolerance.")
@click.option("--layer-images", type=click.IntRange(min=1), default=8, show_default=True,
              help="Images the per-layer comparison runs on.")
@click.option("--rel-tol", "rel_tol", multiple=True,
              help="Largest |logit error| as a share of the largest |logit| [fp32=1e-4]. " + LIMIT_HELP)
@click.option("--min-agreement", multiple=True,
              help="Least top-1 agreement with PyTorch in percent [fp32=100, fp16=99.5]. " + LIMIT_HELP)
@click.option("--max-drop", multiple=True,
              help="Largest top-1 drop in percentage points [fp16=0.3, int8=1.0]. " + LIMIT_HELP)
@click.option("--layer-min-sqnr", multiple=True,
              help="With --per-layer: the lowest SQNR in dB a layer may have [fp32=60, fp16=30, int8=15]. "
                   + LIMIT_HELP)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Threads of the CPU backends.")
@click.option("--reference-device", type=click.Choice(REFERENCE_CHOICES), default="cpu", show_default=True,
              help="Where the PyTorch reference runs.")
@click.option("--trust-engine/--no-trust-engine", default=False, show_default=True,
              help="Run engines that have no sidecar (nothing then says which TensorRT and GPU they were built for).")
@click.option("--report", "report_dir", type=OutputPath(folder=True, example="reports"), default=None,
              help="Also write verify.md and verify.png (the logit error distribution) into this folder.")
@json_option
def verify_command(artifacts, checkpoint, backends, data_dir, images, accuracy, per_layer, layer_images, rel_tol,
                   min_agreement, max_drop, layer_min_sqnr, batch_size, threads, reference_device, trust_engine,
                   report_dir, json_out) -> None:
    """Verify ARTIFACTS (ONNX models, engines) against the PyTorch fp32 model of --checkpoint.

    For every artifact on every backend: top-1/top-5 and the change vs PyTorch, top-1 agreement, logit error
    statistics and the smallest tolerance that would pass (as Polygraphy reports it), checked against the
    limits of the artifact's precision. Exit code 1 when any row fails.
    """
    from alexnet_deploy.engine.probe import open_engine_probe
    from alexnet_deploy.errors import InputError
    from alexnet_deploy.verify.presets import presets_with
    from alexnet_deploy.verify.report import write_report
    from alexnet_deploy.verify.run import VerifyConfig

    given = click.get_current_context().get_parameter_source("layer_images") == click.core.ParameterSource.COMMANDLINE
    if not per_layer and (given or layer_min_sqnr):
        raise InputError("--layer-images and --layer-min-sqnr apply to the per-layer comparison; add --per-layer or "
                         "drop them.")
    overrides = [("rel-tol", v) for v in rel_tol] + [("min-agreement", v) for v in min_agreement] + \
                [("max-drop", v) for v in max_drop] + [("layer-min-sqnr", v) for v in layer_min_sqnr]
    config = VerifyConfig(backends=tuple(backends), images=images, accuracy=accuracy, batch_size=batch_size,
                          threads=threads, reference_device=reference_device, presets=presets_with(overrides),
                          per_layer=per_layer, layer_images=layer_images, engine_probe=open_engine_probe,
                          trust_engine=trust_engine)
    inputs = {"the checkpoint": checkpoint, **{f"artifact {a}": a for a in artifacts}}
    check_outputs({"--json": json_out}, folders={"--report": report_dir}, inputs=inputs)
    errors = console(stderr=True)
    result = _run(errors, checkpoint, artifacts, data_dir, config)
    out = console()
    for warning in result.warnings:
        errors.print(f"Warning: {warning}")
    _print_result(out, result)
    if report_dir:
        written = write_report(result, report_dir)
        out.print(f"Wrote {', '.join(str(p) for p in written)}")
    finish(result, json_out)


def _run(console, checkpoint, artifacts, data_dir, config):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from alexnet_deploy.verify.run import verify

    labels = {"images": "Comparing (images)", "layers": "Per-layer probes (models)"}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done)

        return verify(checkpoint, artifacts, data_dir, config=config, progress=progress)


def _print_result(console, result) -> None:
    from pathlib import Path

    from rich.table import Table
    from rich.text import Text

    from alexnet_deploy.verify.report import LAYER_HEADERS, layer_cells, row_cells

    ref = result.reference
    title = f"Against PyTorch fp32 ({ref.backend}) on {result.images} images, {result.data}"
    if ref.accuracy is not None:
        title += f": reference top-1 {ref.accuracy.top1_percent:.2f} %, top-{ref.accuracy.topk} " \
                 f"{100 * ref.accuracy.top5:.2f} %"
    table = Table(title=title)
    for header in ("model", "backend", "prec", "top-1 %", "vs ref", "agree %", "max abs err", "result"):
        table.add_column(header, justify="left" if header in ("model", "backend", "prec") else "right",
                         overflow="fold")
    for row in result.rows:
        cells = row_cells(row)
        table.add_row(Path(row.artifact).name, row.backend, row.precision, cells[3], cells[4], cells[6], cells[7],
                      Text("PASS", style="green") if row else Text("FAIL", style="red"))
    console.print(table)
    for row in result.rows:
        s = row.stats
        top5 = "" if row.top5 is None else f"top-5 {row.top5:.2f} %; "
        console.print(f"{row.artifact} on {row.backend} ({row.precision}: {row.preset.describe()}): {top5}"
                      f"abs err max {s.max_abs:.3g} mean {s.mean_abs:.3g} median {s.median_abs:.3g} p99 "
                      f"{s.p99_abs:.3g}; rel err max {s.max_rel:.3g} mean {s.mean_rel:.3g} median {s.median_rel:.3g} "
                      f"p99 {s.p99_rel:.3g}; cosine min {s.cosine_min:.6f}; minimum tolerance {s.describe_tolerance()}"
                      + "".join(f"; not checked: {n}" for n in row.not_checked)
                      + "".join(f"; FAILED {c.describe()}" for c in row.checks if not c.passed))
    for row in result.rows:
        if row.layers is None:
            continue
        if row.layers.layers and not row.layers.note:
            layers = Table(title=f"Layers of {row.artifact} on {row.backend} ({row.layers.images} images)")
            for header in LAYER_HEADERS:
                layers.add_column(header, justify="right" if header in ("cosine", "rel err", "SQNR dB") else "left",
                                  overflow="fold")
            for cells in layer_cells(row.layers):
                layers.add_row(*cells)
            console.print(layers)
        console.print(f"{row.artifact} on {row.backend}: {row.layers.describe()}")


COMMANDS = [verify_command]
