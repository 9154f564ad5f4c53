"""``alexnet-deploy env``, ``models`` and ``info``: what this machine, the archs and a model file hold."""

from __future__ import annotations

import click

from alexnet_deploy.commands.common import console, printable
from alexnet_deploy.core.limits import MAX_CLASSES


@click.command("env")
def env_command() -> None:
    """Print library versions, the onnxruntime flavour, GPUs, and which backends run here (or why not)."""
    from alexnet_deploy.core.environment import environment_report
    from alexnet_deploy.runtimes.registry import available

    for key, value in environment_report().items():
        click.echo(f"{key:15} {value}")
    click.echo("backends:")
    for name, state in available().items():
        click.echo(f"  {name:13} " + ("ok" if state.ok else f"unavailable: {state.reason} (install: {state.install})"))


@click.command("models")
@click.option("--arch", "archs", multiple=True, help="Only these archs (repeatable); default all.")
@click.option("--num-classes", default=1000, show_default=True, type=click.IntRange(1, MAX_CLASSES))
def models_command(archs: tuple[str, ...], num_classes: int) -> None:
    """Build each arch, run a forward pass and print its layer table."""
    from rich.table import Table

    from alexnet_deploy.model.zoo import ARCHS, build, count_parameters, get_spec
    from alexnet_deploy.model.summary import layer_table

    out = console()
    for name in archs or tuple(ARCHS):
        spec = get_spec(name)
        model = build(name, num_classes=num_classes)
        rows = layer_table(model, spec.input_size)
        table = Table(title=f"{name}: {spec.description} (input 3x{spec.input_size}x{spec.input_size})")
        for column in ("layer", "type", "output", "params", "MACs"):
            table.add_column(column, justify="right" if column in ("params", "MACs") else "left")
        for row in rows:
            shape = "x".join(str(d) for d in row.output_shape[1:])
            table.add_row(row.name, row.kind, shape, f"{row.parameters:,}", f"{row.macs:,}")
        total_macs = sum(r.macs for r in rows)
        table.add_row("total", "", "", f"{count_parameters(model):,}", f"{total_macs:,}", style="bold")
        out.print(table)


@click.command("info")
@click.argument("model", type=click.Path(path_type=str))
def info_command(model: str) -> None:
    """Print what a checkpoint, an exported ONNX model or an engine (from its sidecar) MODEL holds."""
    if model.lower().endswith((".engine", ".plan", ".engine.json", ".plan.json")):
        from alexnet_deploy.artifacts.engine_sidecar import describe_engine

        summary = describe_engine(model)
    elif model.lower().endswith(".onnx"):
        from alexnet_deploy.artifacts.onnx_meta import describe_onnx

        summary = describe_onnx(model)
    else:
        from alexnet_deploy.artifacts.checkpoint import load_checkpoint

        summary = load_checkpoint(model).summary()
    names = summary.pop("class_names")
    for key, value in _info_lines(summary):
        click.echo(printable(f"{key:24} {value}"))
    shown = ", ".join(names[:10]) + (f", ... ({len(names)} in all)" if len(names) > 10 else "")
    click.echo(printable(f"{'class_names':24} {shown}"))


def _info_lines(summary: dict, prefix: str = ""):
    """(key, text) pairs: nested dicts flattened as ``a.b``, long per-epoch lists summarised."""
    import json

    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and key in ("training", "recipe", "pca"):
            if key == "recipe" and "name" in value:
                settings = {k: v for k, v in value.items() if k != "name"}
                yield name, f"{value['name']} " + json.dumps(settings, default=_describe)
            elif key == "pca":
                eigvals = json.dumps(value.get("eigvals"), default=_describe)
                yield name, f"sigma {value.get('sigma')}, eigenvalues {eigvals}"
            else:
                yield from _info_lines(value, prefix=f"{name}.")
        elif key == "history" and isinstance(value, list):
            yield name, f"{len(value)} epochs (per-epoch loss, accuracy and speed)"
        elif key == "resume" and isinstance(value, dict):
            yield name, "optimizer, schedule and random state for --resume (" + ", ".join(value) + ")"
        elif isinstance(value, (dict, list)):
            yield name, json.dumps(value, default=_describe)
        elif hasattr(value, "shape"):  # a tensor: its shape, not its values
            yield name, _describe(value)
        else:
            yield name, value


def _describe(value) -> str:
    """Anything JSON cannot hold (a tensor in a checkpoint's training metadata) as its type and shape."""
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"<{type(value).__name__} {'x'.join(str(d) for d in shape) or 'scalar'} {getattr(value, 'dtype', '')}>"
    return f"<{type(value).__name__}>"


COMMANDS: list = [env_command, models_command, info_command]
