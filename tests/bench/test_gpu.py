"""On an NVIDIA GPU: torch-cuda fp32 / fp16 / CUDA graphs with the compute split, and NVML energy."""

from __future__ import annotations

import pytest
import torch

from alexnet_deploy.artifacts.checkpoint import make_checkpoint, save_checkpoint
from alexnet_deploy.bench.config import BenchConfig
from alexnet_deploy.bench.plan import Variants, make_plan
from alexnet_deploy.bench.session import run_plan
from alexnet_deploy.model.zoo import build

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = build("paper", num_classes=10)
    return save_checkpoint(tmp_path_factory.mktemp("gpu") / "m.pt", make_checkpoint(model, arch="paper", input_size=67))


def test_torch_cuda_variants_time_compute_on_the_device(checkpoint):
    config = BenchConfig(batches=(1, 8), batches_given=True, warmup_s=0.2, duration_s=1.0, min_iterations=20)
    plan = make_plan([str(checkpoint)], config=config, backends=["torch-cuda"],
                     variants=Variants(fp16=True, cuda_graphs=True))
    assert [(r.variant, dict(r.options).get("precision", "fp32")) for r in plan.runs] == [
        ("", "fp32"), ("", "fp16"), ("cuda-graphs", "fp32"), ("cuda-graphs", "fp16")]
    result = run_plan(plan, config)
    assert len(result.rows) == 8
    for row in result.rows:
        assert row.device.startswith("cuda") and row.compute is not None
        assert {"h2d", "compute", "d2h", "total"} <= set(row.compute.median_ms)
        assert row.compute.median_ms["compute"] <= row.compute.median_ms["total"]
        assert row.energy.measured or "not measured here" in row.energy.reason
    fp32 = next(r for r in result.rows if r.baseline and r.batch == 1)
    assert fp32.speedup == pytest.approx(1.0)
    assert all(r.speedup is not None for r in result.rows)


def test_nvml_energy_per_image_when_the_counter_reads(checkpoint):
    config = BenchConfig(warmup_s=0.2, duration_s=2.0, min_iterations=20)
    result = run_plan(make_plan([str(checkpoint)], config=config, backends=["torch-cuda"]), config)
    energy = result.rows[0].energy
    if not energy.measured:
        pytest.skip(energy.reason)
    assert energy.source == "nvml" and energy.window_s >= 2.0 and energy.average_watts > 0
    assert energy.joules_per_image is not None
    assert isinstance(result.machine["gpus"], list) and result.machine["gpus"][0]["driver"]
