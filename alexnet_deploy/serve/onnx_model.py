"""An ONNX model as a Triton onnxruntime model: names, dims and data types read from the file itself."""

from __future__ import annotations

from pathlib import Path

from alexnet_deploy.artifacts.onnx_meta import check_external_data_paths, load_onnx, read_meta
from alexnet_deploy.errors import InputError
from alexnet_deploy.serve.spec import (
    INSTANCE_KINDS, VERSION, ModelPlan, TensorConfig, TritonModel, TritonOptions, label_outputs, model_name,
)

# ONNX TensorProto element type names -> Triton's DataType names.
_DATA_TYPES = {
    "FLOAT": "TYPE_FP32", "FLOAT16": "TYPE_FP16", "DOUBLE": "TYPE_FP64", "BFLOAT16": "TYPE_BF16",
    "INT8": "TYPE_INT8", "INT16": "TYPE_INT16", "INT32": "TYPE_INT32", "INT64": "TYPE_INT64",
    "UINT8": "TYPE_UINT8", "UINT16": "TYPE_UINT16", "UINT32": "TYPE_UINT32", "UINT64": "TYPE_UINT64",
    "BOOL": "TYPE_BOOL", "STRING": "TYPE_STRING",
}


def plan_onnx(path: Path, options: TritonOptions) -> ModelPlan:
    """The Triton model for an ONNX file made by this tool (external data vetted, weights not read).

    A batch dimension that is symbolic on every input and output lets Triton
    batch (``max_batch_size`` from the options, dims without the batch); a
    fixed one gives ``max_batch_size: 0`` and the full shapes.
    """
    external = check_external_data_paths(path)
    proto = load_onnx(path, load_weights=False)
    meta = read_meta(proto, where=str(path))
    initializers = {t.name for t in proto.graph.initializer}
    inputs = [_shape(v, path) for v in proto.graph.input if v.name not in initializers]
    outputs = [_shape(v, path) for v in proto.graph.output]
    batches = all(dims and dims[0] is None for _, _, dims in inputs + outputs)

    def tensor(name: str, data_type: str, dims: list[int | None]) -> TensorConfig:
        kept = dims[1:] if batches else dims
        return TensorConfig(name=name, data_type=data_type, dims=[-1 if d is None else d for d in kept])

    model = TritonModel(
        name=model_name(path, suffix="onnx"), artifact=str(path), platform="onnxruntime_onnx", backend="onnxruntime",
        max_batch_size=options.max_batch_size if batches else 0, preferred_batch_sizes=[],
        inputs=[tensor(*t) for t in inputs], outputs=[tensor(*t) for t in outputs],
        instance_kind=INSTANCE_KINDS[options.onnx_kind], instance_count=options.instances,
        max_queue_delay_us=options.max_queue_delay_us, num_classes=meta.num_classes, precision=meta.precision,
        files=[],
    )
    label_outputs(model.outputs, meta.class_names, where=str(path))
    folder = path.resolve().parent
    # External data keeps the location the model names, relative to the model file.
    sources = {f"{VERSION}/model.onnx": path,
               **{f"{VERSION}/{p.relative_to(folder).as_posix()}": p for p in external}}
    model.files = sorted(sources)
    return ModelPlan(model=model, class_names=meta.class_names, sources=sources)


def _shape(value_info, path: Path) -> tuple[str, str, list[int | None]]:
    """(name, Triton data type, dims with None for a symbolic dimension) of a graph input or output."""
    from onnx import TensorProto

    tensor_type = value_info.type.tensor_type
    if not value_info.type.HasField("tensor_type") or not tensor_type.HasField("shape"):
        raise InputError(f"{path} does not state the shape of {value_info.name!r}, which Triton's config needs; "
                         f"re-export it with alexnet-deploy export.")
    element = TensorProto.DataType.Name(tensor_type.elem_type)
    if element not in _DATA_TYPES:
        raise InputError(f"{path} has {value_info.name!r} of type {element}, which Triton has no type for; "
                         f"re-export it with float inputs and outputs.")
    dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tensor_type.shape.dim]
    return value_info.name, _DATA_TYPES[element], dims
