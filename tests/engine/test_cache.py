"""The engine cache key changes with every input and option; an intact engine with the same key is reused."""

from __future__ import annotations

import dataclasses

import pytest

from alexnet_deploy.engine.cache import KeyParts, cache_key, changed_parts, onnx_digest, reusable_engine
from alexnet_deploy.engine.plan import BatchProfile, BuildOptions
from tests.builders import engine_with_sidecar, tiny_onnx

BASE = KeyParts(onnx_sha256="a" * 64, tensorrt_version="10.3.0", gpu_name="Orin", compute_capability="8.7",
                options=BuildOptions(batch=BatchProfile(1, 8, 32)).to_dict())


@pytest.mark.parametrize("change", [
    {"onnx_sha256": "b" * 64},
    {"tensorrt_version": "10.16.1.11"},
    {"gpu_name": "NVIDIA H100 80GB HBM3"},
    {"compute_capability": "9.0"},
    {"options": BuildOptions(precision="fp16", batch=BatchProfile(1, 8, 32)).to_dict()},
    {"options": BuildOptions(batch=BatchProfile(1, 8, 64)).to_dict()},
    {"options": BuildOptions(batch=BatchProfile(1, 16, 32)).to_dict()},
    {"options": BuildOptions(batch=BatchProfile(2, 8, 32)).to_dict()},
    {"options": BuildOptions(batch=BatchProfile(1, 8, 32), workspace=4 << 30).to_dict()},
    {"options": BuildOptions(batch=BatchProfile(1, 8, 32), opt_level=5).to_dict()},
])
def test_key_changes_with_each_part_and_option(change):
    changed = dataclasses.replace(BASE, **change)
    assert cache_key(changed) != cache_key(BASE)
    assert changed_parts(BASE.to_dict(), changed)  # and the rebuild can say why


def test_key_is_stable_and_ignores_dict_order():
    reordered = dataclasses.replace(BASE, options=dict(reversed(list(BASE.options.items()))))
    assert cache_key(reordered) == cache_key(BASE) and len(cache_key(BASE)) == 64
    assert changed_parts(BASE.to_dict(), reordered) == []
    assert changed_parts(BASE.to_dict(), dataclasses.replace(BASE, compute_capability="9.0")) == ["compute_capability"]
    wider = dataclasses.replace(BASE, options=BuildOptions(batch=BatchProfile(1, 8, 64)).to_dict())
    assert changed_parts(BASE.to_dict(), wider) == ["options.batch"]


def test_onnx_digest_covers_external_data(tmp_path):
    from alexnet_deploy.artifacts.onnx_meta import check_external_data_paths

    model = tiny_onnx(tmp_path / "alexnet.onnx", external_data=True)
    external = check_external_data_paths(model)
    assert [p.name for p in external] == ["alexnet.onnx.data"]
    before = onnx_digest(model, external)
    assert onnx_digest(model, external) == before
    data = external[0].read_bytes()
    external[0].write_bytes(data[:-4] + bytes(4 * [1]))  # one weight changes, the model file does not
    assert onnx_digest(model, external) != before
    assert onnx_digest(model, []) != before  # the model file alone is a different digest


def test_onnx_digest_follows_the_model_bytes(tmp_path):
    a = tiny_onnx(tmp_path / "a.onnx", seed=0)
    b = tiny_onnx(tmp_path / "b.onnx", seed=1)
    assert onnx_digest(a) != onnx_digest(b)
    assert onnx_digest(a) == onnx_digest(tiny_onnx(tmp_path / "c.onnx", seed=0))


def test_reusable_engine_needs_same_key_and_intact_bytes(tmp_path):
    engine = tmp_path / "alexnet.fp32.engine"
    sidecar = engine_with_sidecar(engine, key="1" * 64)
    assert reusable_engine(engine, "1" * 64) == sidecar
    assert reusable_engine(engine, "2" * 64) is None  # another key: rebuild
    engine.write_bytes(b"plan bytez")  # same size, other bytes
    assert reusable_engine(engine, "1" * 64) is None
    engine_with_sidecar(engine, key="1" * 64)
    (tmp_path / "alexnet.fp32.engine.json").write_text("{not json")
    assert reusable_engine(engine, "1" * 64) is None  # a damaged sidecar is rebuilt, not an error
    assert reusable_engine(tmp_path / "missing.engine", "1" * 64) is None
