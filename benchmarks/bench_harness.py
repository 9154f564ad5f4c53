"""The bench harness against an independent minimal loop on the same ONNX file, side by side in one run.

Run: .venv/bin/python benchmarks/bench_harness.py [--onnx runs/demo/alexnet.onnx] [--threads 2] [--seconds 0.5]
        [--rounds 20] [--batch 1]

The minimal loop is plain onnxruntime: one InferenceSession with the same
thread count and spinning off, ``time.perf_counter`` around ``session.run``.
The harness is ``alexnet-deploy bench``'s: the ort-cpu runner behind the
registry, warm-up by time, chunked timed windows. Short blocks alternate in
ABBA order (harness, loop, loop, harness, ...) so that drift in the machine's
speed and any effect of going second hit both alike, and each half of the
rounds creates the two sessions in the other order. Each round gives the
ratio of the two p50s; their median is the verdict (the harness adds nothing
when it is within 10% of 1), printed beside the p50s of all of each side's
latencies.

Without --onnx, runs/demo/alexnet.onnx (from `make demo`) is used when present,
else a paper AlexNet with random weights is exported at 67 px to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from alexnet_deploy.bench.config import BenchConfig
from alexnet_deploy.bench.harness import measure
from alexnet_deploy.runtimes.registry import open_runner


def minimal_loop(session: ort.InferenceSession, x: np.ndarray, *, warmup_s: float, seconds: float) -> list[float]:
    """Warm up, then perf_counter around session.run for ``seconds``: nothing else."""
    name = session.get_inputs()[0].name
    end = time.perf_counter() + warmup_s
    while time.perf_counter() < end:
        session.run(None, {name: x})
    latencies = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        session.run(None, {name: x})
        latencies.append(time.perf_counter() - start)
    return latencies


def plain_session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _model(given: str | None, workdir: Path) -> Path:
    if given:
        return Path(given)
    demo = Path("runs/demo/alexnet.onnx")
    if demo.is_file():
        return demo
    import torch

    from alexnet_deploy.artifacts.checkpoint import make_checkpoint, save_checkpoint
    from alexnet_deploy.export.exporter import export_onnx
    from alexnet_deploy.model.zoo import build

    torch.manual_seed(0)
    ckpt = save_checkpoint(workdir / "paper.pt", make_checkpoint(build("paper", num_classes=10), arch="paper",
                                                                 input_size=67, resize=73))
    export_onnx(ckpt, workdir / "paper.onnx", parity_images=2)
    return workdir / "paper.onnx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", default=None)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    parser.add_argument("--threads", type=int, default=usable)
    parser.add_argument("--seconds", type=float, default=0.5, help="timed seconds per block")
    parser.add_argument("--rounds", type=int, default=20, help="harness/loop block pairs")
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = _model(args.onnx, Path(tmp))
        probe = plain_session(path, args.threads)
        shape = [d if isinstance(d, int) else args.batch for d in probe.get_inputs()[0].shape]
        del probe
        x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
        config = BenchConfig(warmup_s=0.2, duration_s=args.seconds, min_iterations=10, threads=args.threads,
                             energy=False)
        print(f"{path}, input {tuple(shape)}, {args.threads} threads, onnxruntime {ort.__version__}, "
              f"{args.rounds} x {args.seconds:g} s per side")
        harness_all, loop_all, ratios = [], [], []
        # The session created second ran a few percent faster here (where its weights land in memory, it
        # seems), so each half of the rounds creates the two sessions in the other order.
        for half in range(2):
            first_plain = half == 0
            session = plain_session(path, args.threads) if first_plain else None
            runner = open_runner("ort-cpu", path, threads=args.threads, spinning=False)
            session = session or plain_session(path, args.threads)
            feeds = {runner.input_name: x}
            for i in range(half * args.rounds // 2, (half + 1) * args.rounds // 2):
                # ABBA order: which side goes first alternates, so neither always follows the other.
                if i % 2:
                    loop = minimal_loop(session, x, warmup_s=config.warmup_s, seconds=args.seconds)
                harness = measure(runner, feeds, config=config, batch=shape[0], on_gpu=False).end_to_end.total_s
                if not i % 2:
                    loop = minimal_loop(session, x, warmup_s=config.warmup_s, seconds=args.seconds)
                harness_all += harness
                loop_all += loop
                ratios.append(np.median(harness) / np.median(loop))
                print(f"round {i + 1}: harness p50 {np.median(harness) * 1e3:.3f} ms ({len(harness)} it), "
                      f"minimal loop p50 {np.median(loop) * 1e3:.3f} ms ({len(loop)} it), ratio {ratios[-1]:.3f}"
                      f" ({'loop' if first_plain else 'harness'} session created first)")
            runner.close()
            del session
    h, m = np.median(harness_all) * 1e3, np.median(loop_all) * 1e3
    # Each round's two blocks sit side by side in time, so the median of the per-round ratios is what the
    # verdict uses: pooling all latencies lets whichever side met a quiet spell contribute more samples.
    ratio = float(np.median(ratios))
    verdict = "within 10%" if abs(ratio - 1) <= 0.10 else "NOT within 10%"
    print(f"p50 harness {h:.3f} ms, minimal loop {m:.3f} ms (pooled ratio {h / m:.3f}); median of the per-round "
          f"p50 ratios harness / loop {ratio:.3f} ({verdict})")
    sys.exit(0 if abs(ratio - 1) <= 0.10 else 1)

if __name__ == "__main__":
    main()
