"""A TensorRT engine as a Triton tensorrt model, described by its JSON sidecar alone.

Reading an engine's I/O from the engine itself needs TensorRT and a GPU, so the
sidecar that build-engine writes beside it is the description: input and output
names, the batch profile (min/opt/max input shapes) and the ONNX model's
metadata. Data types are float32 for every engine this tool builds: the
engine is parsed, strongly typed, from an ONNX model whose inputs and outputs
are float32 at every precision (fp16 and INT8 models keep float32 I/O).
"""

from __future__ import annotations

from pathlib import Path

from alexnet_deploy.artifacts.engine_sidecar import engine_problem, read_sidecar, sidecar_path
from alexnet_deploy.artifacts.onnx_meta import ModelMeta
from alexnet_deploy.errors import InputError
from alexnet_deploy.serve.spec import (
    VERSION, ModelPlan, TensorConfig, TritonModel, TritonOptions, label_outputs, model_name,
)

ENGINE_DATA_TYPE = "TYPE_FP32"


def plan_engine(path: Path, options: TritonOptions) -> ModelPlan:
    """The Triton model for an engine made by ``alexnet-deploy build-engine``; InputError without a sound sidecar.

    A profile whose batch is fixed (min = max) gives ``max_batch_size: 0`` and
    the full shapes; one from 1 to max lets Triton batch up to
    ``min(max, options.max_batch_size)``, preferring the batch it was tuned for.
    """
    sidecar = read_sidecar(path)
    if sidecar is None:
        raise InputError(f"{path} has no sidecar {sidecar_path(path).name}, and without it its input and "
                         f"output shapes cannot be read without TensorRT; build engines with alexnet-deploy "
                         f"build-engine.")
    problem = engine_problem(path, sidecar)
    if problem:
        raise InputError(f"The sidecar of {path} does not describe it ({problem}); rebuild the engine.")
    try:
        meta = ModelMeta.from_dict(sidecar.model)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"The sidecar of {path} has incomplete model metadata ({exc}); rebuild the engine.") from None
    low, opt, high = _profile(sidecar.profile, path)
    if len(sidecar.output_names) != 1:
        raise InputError(f"{path} has {len(sidecar.output_names)} outputs and its sidecar records the shape of one "
                         f"(the logits); serve an engine built from an alexnet-deploy ONNX model.")
    # Height and width that vary within the profile are -1: Triton then takes any size TensorRT accepts.
    image = [lo if lo == hi else -1 for lo, hi in zip(low[1:], high[1:])]
    if low[0] == high[0]:
        batch, preferred = 0, []
        input_dims, output_dims = [low[0], *image], [low[0], meta.num_classes]
    elif low[0] == 1:
        batch = min(high[0], options.max_batch_size)
        preferred = [opt[0]] if 1 < opt[0] <= batch else []
        input_dims, output_dims = image, [meta.num_classes]
    else:
        raise InputError(f"{path} takes batches of {low[0]} to {high[0]} images, but Triton's batcher also sends "
                         f"smaller batches; rebuild it with --batch 1:{opt[0]}:{high[0]}.")
    model = TritonModel(
        name=model_name(path, suffix="trt"), artifact=str(path), platform="tensorrt_plan", backend="tensorrt",
        max_batch_size=batch, preferred_batch_sizes=preferred,
        inputs=[TensorConfig(sidecar.input_name, ENGINE_DATA_TYPE, input_dims)],
        outputs=[TensorConfig(sidecar.output_names[0], ENGINE_DATA_TYPE, output_dims)],
        instance_kind="KIND_GPU", instance_count=options.instances, max_queue_delay_us=options.max_queue_delay_us,
        num_classes=meta.num_classes, precision=sidecar.precision, files=[f"{VERSION}/model.plan"],
        needs=(f"TensorRT {sidecar.tensorrt_version} (a Triton release built with it) on a GPU of compute capability "
               f"{sidecar.compute_capability} ({sidecar.gpu_name})"),
    )
    label_outputs(model.outputs, meta.class_names, where=f"The sidecar of {path}")
    return ModelPlan(model=model, class_names=meta.class_names, sources={f"{VERSION}/model.plan": path})


def _profile(profile: dict, path: Path) -> tuple[list[int], list[int], list[int]]:
    """min, opt and max input shapes (N, C, H, W) of the engine's optimization profile."""
    try:
        shapes = [[int(d) for d in profile[k]] for k in ("min", "opt", "max")]
    except (KeyError, TypeError, ValueError):
        shapes = []
    if not shapes or any(len(s) != 4 or min(s) < 1 for s in shapes):
        raise InputError(f"The sidecar of {path} has no usable batch profile (min/opt/max N x C x H x W); "
                         f"rebuild the engine with alexnet-deploy build-engine.")
    return shapes[0], shapes[1], shapes[2]

