"""ONNX export: one LRN node per layer, dynamic batch, metadata, checker, parity gate, refusals.

Exports of the full-size archs take several seconds each (the paper net holds
~57M fc weights), so a few module-scoped exports are shared by the tests.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from alexnet_deploy.model import zoo as models
from alexnet_deploy.artifacts.checkpoint import Checkpoint, make_checkpoint, save_checkpoint
from alexnet_deploy.cli import main
from alexnet_deploy.errors import CheckpointError, ExportError, InputError
from alexnet_deploy.export.exporter import ExportResult, export_onnx
from alexnet_deploy.core.fsutil import sha256_file
from alexnet_deploy.model.lrn import LocalResponseNorm
from alexnet_deploy.artifacts.onnx_meta import check_external_data_paths, read_meta
from alexnet_deploy.runtimes.ort import open_session

CLASSES = [f"kind {i}" for i in range(10)]


def _checkpoint(arch: str, seed: int = 0):
    torch.manual_seed(seed)
    return make_checkpoint(models.build(arch, num_classes=10), arch=arch, class_names=CLASSES)


def _graph(path) -> onnx.ModelProto:
    return onnx.load(str(path), load_external_data=False)


def _ops(path) -> list[str]:
    return [n.op_type for n in _graph(path).graph.node]


@pytest.fixture(scope="module")
def paper_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "paper.pt"
    save_checkpoint(path, _checkpoint("paper"))
    return path


@pytest.fixture(scope="module")
def paper_export(paper_ckpt, tmp_path_factory):
    """`alexnet-deploy export` of the paper arch with every default."""
    out = tmp_path_factory.mktemp("onnx") / "paper.onnx"
    report = tmp_path_factory.mktemp("report") / "export.json"
    result = CliRunner().invoke(main, ["export", "--model", str(paper_ckpt), "--out", str(out), "--json", str(report)])
    return result, out, report


def test_cli_export_writes_one_clean_self_contained_file(paper_export):
    result, out, report = paper_export
    assert result.exit_code == 0, result.output
    from alexnet_deploy.commands.results import ExportRun

    run = ExportRun.from_json(report.read_text())
    summary = run.export
    assert run.fp16 is None
    assert summary and summary.out == str(out) and summary.batch == "dynamic" and summary.lrn_nodes == 2
    assert summary.parity.max_abs_diff <= 1e-4 * summary.parity.max_abs_logit
    assert f"Wrote {out}" in result.output and "2 LRN nodes" in result.output
    assert "top-1 agreement 100.00% on 16 drawn images" in result.output
    # The exporter's own chatter stays out of the CLI output.
    assert "[torch.onnx]" not in result.output and "torchvision" not in result.output
    assert sorted(p.name for p in out.parent.iterdir()) == ["paper.onnx"]
    onnx.checker.check_model(str(out), full_check=True)


def test_paper_has_one_lrn_node_per_layer_and_no_decomposition(paper_export):
    ops = _ops(paper_export[1])
    assert ops.count("LRN") == 2
    assert not {"Pad", "Pow", "Div", "Mul"} & set(ops)


def test_io_names_and_dynamic_batch_match_pytorch(paper_export, paper_ckpt):
    out = paper_export[1]
    graph = _graph(out).graph
    assert [i.name for i in graph.input] == ["input"] and [o.name for o in graph.output] == ["logits"]
    batch_dim = graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value
    from alexnet_deploy.artifacts.checkpoint import load_checkpoint

    model = load_checkpoint(paper_ckpt).build_model()
    session = open_session(out)
    rng = np.random.default_rng(1)
    for n in (1, 3):
        x = rng.standard_normal((n, 3, 227, 227)).astype(np.float32)
        got = session.run(None, {"input": x})[0]
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        assert got.shape == (n, 10)
        np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max())


def test_metadata_describes_the_checkpoint_and_info_shows_it(paper_export, paper_ckpt):
    out = paper_export[1]
    meta = read_meta(out)
    assert meta.arch == "paper" and list(meta.class_names) == CLASSES
    assert (meta.input_size, meta.resize, meta.precision) == (227, 256, "fp32")
    assert meta.mean == models.IMAGENET_MEAN and meta.std == models.IMAGENET_STD
    assert meta.source_sha256 == sha256_file(paper_ckpt)
    assert meta.versions["torch"] == torch.__version__ and meta.extra["opset"] == "18"
    info = CliRunner().invoke(main, ["info", str(out)])
    assert info.exit_code == 0, info.output
    lines = {" ".join(line.split()) for line in info.output.splitlines()}  # alignment is not the contract
    assert {"precision fp32", "lrn_nodes 2"} <= lines
    for text in ("paper", "input [batchx3x227x227]", "logits [batchx10]", "kind 9"):
        assert text in info.output


def test_torchvision_fixed_batch_external_data_and_real_images(tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (240 + i, 300, 3), dtype=np.uint8)).save(images / f"{i}.png")
    out = tmp_path / "out" / "tv.onnx"
    result = export_onnx(
        _checkpoint("torchvision"), out, batch=2, data_dir=images, external_data=True, opset=20
    )
    assert result and result.lrn_nodes == 0 and "LRN" not in _ops(out)
    assert result.parity.images == 5 and result.parity.image_source == f"images from {images}"
    assert result.external_data == ["tv.onnx.data"] and (out.parent / "tv.onnx.data").is_file()
    assert check_external_data_paths(out) == [(out.parent / "tv.onnx.data").resolve()]
    dims = [d.dim_value for d in _graph(out).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 3, 224, 224]
    assert _graph(out).opset_import[0].version == 20
    assert ExportResult.from_json(result.to_json()) == result
    onnx.checker.check_model(str(out), full_check=True)


@pytest.mark.slow
def test_data_is_a_dataset_root_or_a_folder_of_images(paper_ckpt, tmp_path):
    from tests.builders import make_tree

    root = make_tree(tmp_path / "data", classes=2, train=1, val=2, size=240)
    runs = {}
    for name, data in (("root", root), ("split", root / "val")):
        out = tmp_path / name / "m.onnx"
        result = _export("--model", str(paper_ckpt), "--out", str(out), "--data", str(data), "--check-images", "3")
        assert result.exit_code == 0, result.output
        runs[name] = result.output
    assert f"on 3 images from {root / 'val'}" in runs["root"] and f"on 3 images from {root / 'val'}" in runs["split"]


def test_caffenet_exports_two_lrn_nodes(tmp_path):
    result = export_onnx(_checkpoint("caffenet"), tmp_path / "caffenet.onnx", parity_images=4)
    assert result and result.lrn_nodes == 2
    assert _ops(tmp_path / "caffenet.onnx").count("LRN") == 2


def _wrong_lrn(x, size: int, alpha: float, beta: float, k: float):
    """An LRN translation with the wrong bias: exports fine, computes the wrong thing."""
    from onnxscript import opset18 as op

    return op.LRN(x, size=size, alpha=alpha, beta=beta, bias=k * 3)


def test_parity_gate_catches_a_wrong_translation_and_writes_nothing(paper_ckpt, tmp_path):
    out = tmp_path / "broken.onnx"
    wrong = {torch.ops.alexnet_deploy.lrn.default: _wrong_lrn}
    result = export_onnx(paper_ckpt, out, translations=wrong, parity_images=4)
    assert not result and not result.written
    (failure,) = result.failures()
    assert failure.startswith("export parity: max |logit diff|") and "> allowed" in failure
    assert list(tmp_path.iterdir()) == []


def _failing_lrn(x, size: int, alpha: float, beta: float, k: float):
    raise RuntimeError("this translation cannot be built")


def test_exporter_failure_keeps_its_messages_and_writes_nothing(tmp_path):
    failing = {torch.ops.alexnet_deploy.lrn.default: _failing_lrn}
    with pytest.raises(Exception) as info:
        export_onnx(_checkpoint("caffenet"), tmp_path / "m.onnx", translations=failing)
    assert not isinstance(info.value, ExportError)  # a bug keeps its traceback
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "torch.onnx.export output" in notes and "[torch.onnx]" in notes
    assert list(tmp_path.iterdir()) == []


def _export(*args):
    return CliRunner().invoke(main, ["export", *args])


def test_cli_refusals_are_one_sentence_with_exit_2(paper_ckpt, tmp_path):
    ck = ["--model", str(paper_ckpt)]
    cases = [
        (ck + ["--out", str(tmp_path)], "is a folder"),
        (ck + ["--out", str(tmp_path / "m.onnx"), "--opset", "17"], "17 is not in the range 18<=x<=26"),
        (ck + ["--out", str(tmp_path / "m.onnx"), "--batch-dim", "0"], "neither 'dynamic' nor an integer"),
        (ck + ["--out", str(tmp_path / "m.onnx"), "--margin", "0.1"], "--margin only applies with --fp16"),
        (["--model", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "m.onnx")], "does not exist"),
        (ck + ["--out", str(paper_ckpt)], "is --model itself"),
    ]
    for args, message in cases:
        result = _export(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "m.onnx").exists()


def test_checkpoint_whose_weights_do_not_fit_its_arch_is_refused(tmp_path):
    bad = tmp_path / "bad.pt"
    state = {"features.0.weight": torch.zeros(2, 3, 3, 3), "classifier.6.weight": torch.zeros(10, 4)}
    torch.save(
        {"format": "alexnet-deploy/checkpoint", "format_version": 1, "arch": "paper", "class_names": CLASSES,
         "input_size": 227, "mean": [0.5] * 3, "std": [0.5] * 3, "state_dict": state},
        bad,
    )
    result = _export("--model", str(bad), "--out", str(tmp_path / "m.onnx"))
    assert result.exit_code == 2 and "do not fit the 'paper' arch" in result.output
    assert not (tmp_path / "m.onnx").exists()


def test_even_lrn_sizes_and_bad_api_arguments_are_refused(tmp_path):
    with pytest.raises(InputError, match="even"):
        LocalResponseNorm(4)
    ckpt = _checkpoint("torchvision")
    with pytest.raises(InputError, match="Opset 99"):
        export_onnx(ckpt, tmp_path / "m.onnx", opset=99)
    with pytest.raises(InputError, match="Batch must be"):
        export_onnx(ckpt, tmp_path / "m.onnx", batch=-1)
    wrong = Checkpoint(**{**vars(ckpt), "arch": "paper"})  # torchvision weights under the paper arch
    with pytest.raises(CheckpointError, match="do not fit the 'paper' arch"):
        export_onnx(wrong, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []
