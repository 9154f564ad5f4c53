from pathlib import Path

import onnx
import pytest
from google.protobuf import text_format

from alexnet_deploy.errors import InputError
from alexnet_deploy.serve.folder import MANIFEST
from alexnet_deploy.serve.spec import TritonOptions
from alexnet_deploy.serve.triton import TritonResult, export_repository
from tests.builders import TINY_CLASSES, engine_with_sidecar, tiny_model, tiny_onnx, triton_schema, write_images


def configs(repo):
    """Every config.pbtxt of a repository, parsed with Triton's schema: folder name -> ModelConfig."""
    return {path.parent.name: text_format.Parse(path.read_text(), triton_schema().ModelConfig())
            for path in sorted(repo.glob("*/config.pbtxt"))}


def test_a_repository_of_dynamic_and_fixed_batch_models(tmp_path):
    dynamic = tiny_onnx(tmp_path / "alexnet.onnx")
    fixed = tiny_onnx(tmp_path / "alexnet.b1.onnx", batch=1)
    result = export_repository([dynamic, fixed], tmp_path / "repo", options=TritonOptions(max_batch_size=8))
    repo = tmp_path / "repo"
    parsed = configs(repo)
    assert sorted(parsed) == ["alexnet_b1_onnx", "alexnet_onnx"]
    for name, config in parsed.items():
        assert config.name == name and config.platform == "onnxruntime_onnx"
        assert (repo / name / "1" / "model.onnx").read_bytes() == Path(result.model(name).artifact).read_bytes()
        labels = (repo / name / "labels.txt").read_text().splitlines()
        assert labels == list(TINY_CLASSES) and len(labels) == config.output[0].dims[-1]
    assert parsed["alexnet_onnx"].max_batch_size == 8 and parsed["alexnet_b1_onnx"].max_batch_size == 0
    assert TritonResult.from_json((repo / MANIFEST).read_text()) == result
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alexnet.b1.onnx", "alexnet.onnx", "repo"]


def test_a_folder_stands_for_its_models_and_a_second_export_replaces_the_first(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    tiny_model(models / "alexnet.onnx")
    tiny_model(models / "alexnet.fp16.onnx")
    (models / "alexnet.pt").write_bytes(b"checkpoints are not served")
    (models / "notes.txt").write_text("ignored")
    first = export_repository([models], tmp_path / "repo")
    assert [m.name for m in first.models] == ["alexnet_fp16_onnx", "alexnet_onnx"]
    export_repository([models / "alexnet.onnx"], tmp_path / "repo")
    assert sorted(configs(tmp_path / "repo")) == ["alexnet_onnx"]


def test_an_engine_and_its_onnx_model_side_by_side(tmp_path):
    from alexnet_deploy.precision.quantize import QuantizeConfig, build_int8

    write_images(tmp_path / "calib", 8)
    onnx_path = tmp_path / "alexnet.int8.onnx"  # a real INT8 model: its graph has to be what its metadata says
    build_int8(tiny_onnx(tmp_path / "fp32" / "alexnet.onnx"), tmp_path / "calib", onnx_path,
               config=QuantizeConfig(method="minmax", num_images=8, min_images=8))
    engine = tmp_path / "alexnet.int8.engine"
    engine_with_sidecar(engine, precision="int8", payload=b"plan")
    export_repository([onnx_path, engine], tmp_path / "repo", options=TritonOptions(onnx_kind="cpu"))
    parsed = configs(tmp_path / "repo")
    assert {n: (c.platform, c.instance_group[0].kind) for n, c in parsed.items()} == {
        "alexnet_int8_onnx": ("onnxruntime_onnx", triton_schema().ModelInstanceGroup.KIND_CPU),
        "alexnet_int8_trt": ("tensorrt_plan", triton_schema().ModelInstanceGroup.KIND_GPU),
    }
    assert (tmp_path / "repo" / "alexnet_int8_trt" / "1" / "model.plan").read_bytes() == b"plan"
    assert (tmp_path / "repo" / "alexnet_int8_trt" / "labels.txt").read_text() == "a\nb\nc\n"


@pytest.mark.parametrize("case, message", [
    ("checkpoint", "is a PyTorch checkpoint"),
    ("text", "is not a model this tool knows by its suffix"),
    ("missing", "does not exist"),
    ("foreign", "no alexnet-deploy metadata"),
    ("same name", "would both become Triton model 'alexnet_onnx'"),
    ("empty folder", "holds no ONNX model or TensorRT engine"),
])
def test_refusals_come_before_anything_is_written(tmp_path, case, message):
    good = tiny_model(tmp_path / "alexnet.onnx")
    (tmp_path / "other").mkdir()
    if case == "checkpoint":
        bad = tmp_path / "alexnet.pt"
        bad.write_bytes(b"x")
    elif case == "text":
        bad = tmp_path / "notes.txt"
        bad.write_text("x")
    elif case == "missing":
        bad = tmp_path / "gone.onnx"
    elif case == "foreign":
        proto = onnx.load(str(good))
        del proto.metadata_props[:]
        bad = tmp_path / "foreign.onnx"
        onnx.save(proto, str(bad))
    elif case == "same name":
        bad = tiny_model(tmp_path / "other" / "alexnet.onnx")
    else:
        bad = tmp_path / "empty"
        bad.mkdir()
    out = tmp_path / "repo"
    out.mkdir()
    (out / MANIFEST).write_text("{}")
    with pytest.raises(InputError, match=message):
        export_repository([good, bad], out)
    assert [p.name for p in out.iterdir()] == [MANIFEST]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_no_artifact_is_refused(tmp_path):
    with pytest.raises(InputError, match="Name at least one artifact"):
        export_repository([], tmp_path / "repo")
