"""The batch loop every stage runs models through: chunks, fixed batches padded, outputs by name."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from alexnet_deploy.artifacts.onnx_meta import IR_VERSION
from alexnet_deploy.errors import BackendError
from alexnet_deploy.runtimes.base import logits, run_batches
from alexnet_deploy.runtimes.registry import open_runner

WEIGHT = np.array([1.0, -2.0, 3.0], np.float32)


def _add_model(path, batch):
    graph = helper.make_graph(
        [helper.make_node("Add", ["input", "w"], ["logits"]), helper.make_node("Neg", ["logits"], ["negated"])],
        "add",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 3]),
         helper.make_tensor_value_info("negated", TensorProto.FLOAT, [batch, 3])],
        [numpy_helper.from_array(WEIGHT, "w")],
    )
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=IR_VERSION), path)
    return path


def test_a_fixed_batch_is_fed_in_padded_chunks(tmp_path):
    x = np.arange(15, dtype=np.float32).reshape(5, 3)
    with open_runner("ort-cpu", _add_model(tmp_path / "fixed.onnx", 2)) as runner:
        assert runner.fixed_batch == 2 and runner.output_names == ("logits", "negated")
        np.testing.assert_array_equal(logits(runner, x), x + WEIGHT)
        chunks = list(run_batches(runner, x, chunk=16))
        assert [len(c["logits"]) for c in chunks] == [2, 2, 1]
        np.testing.assert_array_equal(np.concatenate([c["negated"] for c in chunks]), -(x + WEIGHT))
        runner.check_batch(2)
        with pytest.raises(BackendError, match="fixed batch of 2 and cannot run batch 8"):
            runner.check_batch(8)


def test_a_dynamic_batch_follows_the_chunk_size(tmp_path):
    x = np.ones((7, 3), np.float32)
    with open_runner("ort-cpu", _add_model(tmp_path / "dynamic.onnx", "N")) as runner:
        assert runner.fixed_batch is None
        assert [len(c["logits"]) for c in run_batches(runner, x, chunk=3)] == [3, 3, 1]
        assert logits(runner, x[:0]).shape[0] == 0
        timing = runner.timed({"input": x}, 4)
        assert len(timing.total) == 4 and all(t > 0 for t in timing.total) and timing.compute is None
