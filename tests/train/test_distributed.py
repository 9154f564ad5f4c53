"""Multi-process training: torchrun detection, sharding, and a real 2-process gloo run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alexnet_deploy.artifacts.checkpoint import load_checkpoint
from alexnet_deploy.train.distributed import DistEnv, detect, shard, weights_hash
from alexnet_deploy.errors import InputError
from tests.builders import make_tree


def test_detect_reads_torchrun_variables():
    assert detect({}) == DistEnv(1, 0, 0) and not detect({}).enabled
    rendezvous = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}
    env = detect({"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0", **rendezvous})
    assert env == DistEnv(4, 2, 0) and env.enabled and not env.is_main
    with pytest.raises(InputError, match="MASTER_ADDR is not set"):
        detect({"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_PORT": "29500"})
    with pytest.raises(InputError, match="MASTER_PORT must be a port number"):
        detect({"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "h", "MASTER_PORT": "http"})
    with pytest.raises(InputError, match="LOCAL_RANK"):
        detect({"WORLD_SIZE": "2", "RANK": "0"})
    with pytest.raises(InputError, match="Inconsistent"):
        detect({"WORLD_SIZE": "2", "RANK": "2", "LOCAL_RANK": "0", **rendezvous})


def test_shards_cover_every_item_once():
    parts = [shard(11, DistEnv(3, r, r)) for r in range(3)]
    assert sorted(i for p in parts for i in p) == list(range(11))


@pytest.mark.slow
def test_two_process_gloo_run_ends_with_identical_weights_on_both_ranks(tmp_path):
    data = make_tree(tmp_path / "data", val=3)
    out = tmp_path / "ddp.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("WORLD_SIZE", None), env.pop("RANK", None), env.pop("LOCAL_RANK", None)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
        "-m", "alexnet_deploy", "train", "--data", str(data), "--epochs", "2", "--out", str(out),
        "--recipe", "fast", "--batch-size", "4", "--input-size", "67", "--resize", "72", "--device", "cpu",
        "--no-progress", "--seed", "5",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("best val top-1") == 1  # only rank 0 reports
    ckpt = load_checkpoint(out.with_name("ddp.last.pt"))
    meta = ckpt.training
    assert meta["world_size"] == 2 and meta["epoch"] == 2
    hashes = meta["rank_weight_hashes"]
    assert len(hashes) == 2 and hashes[0] == hashes[1] == weights_hash(ckpt.build_model())
    # Metrics are all-reduced: counts cover both ranks' shares, not one rank's.
    assert [(h["images"], h["val_images"]) for h in meta["history"]] == [(18, 9), (18, 9)]
