"""``alexnet-deploy triton export``: a Triton Inference Server model repository from ONNX models and engines."""

from __future__ import annotations

import click

from alexnet_deploy.commands.common import OutputPath, check_outputs, json_option
from alexnet_deploy.core.limits import MAX_BATCH_SIZE

ONNX_KIND_CHOICES = ("gpu", "cpu")  # a test keeps it equal to serve.spec.INSTANCE_KINDS


@click.group("triton")
def triton_group() -> None:
    """Serve models with Triton Inference Server."""


@triton_group.command("export")
@click.argument("artifacts", nargs=-1, required=True, type=click.Path(path_type=str), metavar="ARTIFACT...")
@click.option("--out", required=True, type=OutputPath(folder=True),
              help="The model repository folder: new, empty, or one this command wrote before (replaced whole).")
@click.option("--max-batch-size", type=click.IntRange(1, MAX_BATCH_SIZE), default=32, show_default=True,
              help="The most images Triton batches into one run: ONNX models with a dynamic batch take it as is, "
                   "engines at most their profile's max; a fixed batch means no batching (max_batch_size 0).")
@click.option("--onnx-kind", type=click.Choice(ONNX_KIND_CHOICES), default="gpu", show_default=True,
              help="Where Triton runs the ONNX models (instance group KIND_GPU or KIND_CPU); engines run on the GPU.")
@click.option("--instances", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Model instances per model (the instance group's count).")
@click.option("--max-queue-delay-us", type=click.IntRange(0, 60_000_000), default=100, show_default=True,
              help="How long the dynamic batcher waits to fill a batch, in microseconds.")
@json_option
def export_command(artifacts: tuple[str, ...], out: str, max_batch_size: int, onnx_kind: str, instances: int,
                   max_queue_delay_us: int, json_out: str | None) -> None:
    """Write a Triton model repository serving each ARTIFACT (ONNX model, engine, or a folder of them).

    Each model gets config.pbtxt (shapes, data types and batching read from the
    file; an engine's from its sidecar), labels.txt and version 1 of the model.
    """
    from alexnet_deploy.commands.common import finish
    from alexnet_deploy.serve.triton import TritonOptions, export_repository

    check_outputs({"--json": json_out}, folders={"--out": out},
                  inputs={f"ARTIFACT {i + 1}": path for i, path in enumerate(artifacts)})
    options = TritonOptions(max_batch_size=max_batch_size, onnx_kind=onnx_kind, instances=instances,
                            max_queue_delay_us=max_queue_delay_us)
    result = export_repository(artifacts, out, options=options)
    click.echo(f"Wrote the Triton model repository {result.out} with {len(result.models)} model(s):")
    for model in result.models:
        batching = f"batches up to {model.max_batch_size}" if model.max_batch_size else "fixed batch"
        shapes = ", ".join(f"{t.name} {t.dims}" for t in model.inputs + model.outputs)
        click.echo(f"  {model.name:24} {model.platform:16} {model.precision:5} {batching}, "
                   f"{model.instance_count}x {model.instance_kind}; {shapes}")
        if model.needs:
            click.echo(f"  {'':24} needs {model.needs}")
    click.echo(f"Serve it with: tritonserver --model-repository={result.out} (see README, Serving with Triton).")
    finish(result, json_out)


COMMANDS: list = [triton_group]
