import json

import onnx
import pytest
from click.testing import CliRunner
from google.protobuf import text_format

from alexnet_deploy.cli import main
from alexnet_deploy.commands import triton as triton_commands
from alexnet_deploy.serve.spec import INSTANCE_KINDS
from tests.builders import tiny_model, triton_schema


def run(*args):
    return CliRunner().invoke(main, ["triton", "export", *map(str, args)])


def test_export_writes_a_repository_tritons_schema_accepts(tmp_path):
    model = tiny_model(tmp_path / "alexnet.onnx")
    result = run("--out", tmp_path / "repo", "--max-batch-size", 4, "--onnx-kind", "cpu", "--instances", 2,
                 "--json", tmp_path / "triton.json", model)
    assert result.exit_code == 0, result.output
    assert "alexnet_onnx" in result.output and "batches up to 4" in result.output and "2x KIND_CPU" in result.output
    config = text_format.Parse((tmp_path / "repo" / "alexnet_onnx" / "config.pbtxt").read_text(),
                               triton_schema().ModelConfig())
    assert config.max_batch_size == 4 and config.instance_group[0].count == 2
    assert json.loads((tmp_path / "triton.json").read_text())["models"][0]["name"] == "alexnet_onnx"


def refusal(tmp_path, case):
    model = tiny_model(tmp_path / "alexnet.onnx")
    out = tmp_path / "repo"
    if case == "not an artifact":
        (tmp_path / "notes.txt").write_text("x")
        return [tmp_path / "notes.txt"], out
    if case == "onnx without our metadata":
        proto = onnx.load(str(model))
        del proto.metadata_props[:]
        onnx.save(proto, str(tmp_path / "foreign.onnx"))
        return [tmp_path / "foreign.onnx"], out
    if case == "engine without sidecar":
        (tmp_path / "alexnet.engine").write_bytes(b"plan")
        return [tmp_path / "alexnet.engine"], out
    out.write_text("a file")  # output folder that is a file
    return [model], out


@pytest.mark.parametrize("case, message", [
    ("not an artifact", "is not a model this tool knows by its suffix"),
    ("onnx without our metadata", "has no alexnet-deploy metadata"),
    ("engine without sidecar", "alexnet.engine has no sidecar alexnet.engine.json"),
    ("output is a file", "exists and is not a folder"),
])
def test_refusals_exit_2_with_one_sentence(tmp_path, case, message):
    artifacts, out = refusal(tmp_path, case)
    result = run("--out", out, *artifacts)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output
    assert lines[0].endswith(".") and "Traceback" not in result.output
    assert not (tmp_path / "repo").is_dir()


def test_no_artifact_is_a_usage_error():
    assert CliRunner().invoke(main, ["triton", "export", "--out", "repo"]).exit_code == 2


def test_copied_choice_list_equals_the_instance_kinds():
    assert triton_commands.ONNX_KIND_CHOICES == tuple(INSTANCE_KINDS)
