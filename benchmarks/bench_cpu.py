"""CPU inference side by side: torch eager, onnxruntime fp32/fp16/int8 (both layouts), OpenVINO fp32/int8.

Run: .venv/bin/python benchmarks/bench_cpu.py [--threads 2] [--rounds 5] [--json reports/bench_cpu.json]

For the paper and torchvision archs at their native input size and 1000
classes (random weights: speed does not depend on them), at batch 1 and 8, in
one process: every runner is timed in short blocks, the blocks interleaved
round by round (the order rotating), so drift in machine speed and other
people's load hits every backend alike. onnxruntime runs with spinning off
(spinning pools steal the cores of whatever runs next). The memory-read floor
is measured in the same rounds: the bytes of a model's weights over the read
bandwidth of summing a buffer much larger than the last-level cache. Prints
medians with their spread, the median of the least disturbed round, the process
CPU time per run, every ratio (vs torch eager, vs the floor, paper vs
torchvision; each taken round by round, both figures from the same round, and
the median of those shown) and the targets of the INT8 work. With the demo model and data
(``make demo``) it also prints each INT8 model's top-1 change on the val split.

Models are built once into --workdir (export, fp16, INT8 both layouts) and reused.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_models import ArchModels, build_arch_models, demo_int8_models  # noqa: E402

ARCHS = ("paper", "torchvision")
# label -> (backend, model key in ArchModels, precision whose floor applies)
RUNNERS = {
    "torch eager fp32": ("torch-cpu", "checkpoint", "fp32"),
    "ort fp32": ("ort-cpu", "fp32", "fp32"),
    "ort fp16": ("ort-cpu", "fp16", "fp16"),
    "ort int8-trt": ("ort-cpu", "int8_trt", "int8"),
    "ort int8-cpu": ("ort-cpu", "int8_cpu", "int8"),
    "openvino fp32": ("openvino", "fp32", "fp32"),
    "openvino int8-trt": ("openvino", "int8_trt", "int8"),
    "openvino int8-cpu": ("openvino", "int8_cpu", "int8"),
}
INT8_LABELS = [label for label, (_, _, precision) in RUNNERS.items() if precision == "int8"]
FP32_LABELS = [label for label, (_, _, precision) in RUNNERS.items() if precision == "fp32"]
BANDWIDTH_BYTES = 512 << 20  # 16x the 32 MiB L3 of the machine this was written on


@dataclass
class Samples:
    """Seconds per iteration of one runner at one batch, round by round, and the process CPU time they took."""

    rounds: list[list[float]] = field(default_factory=list)
    cpu_seconds: float = 0.0

    @property
    def seconds(self) -> list[float]:
        return [t for block in self.rounds for t in block]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1e3

    @property
    def best_round_ms(self) -> float:
        """The median of the least disturbed round: on a shared machine, the closest to an idle one."""
        return min(statistics.median(block) for block in self.rounds) * 1e3

    @property
    def round_ms(self) -> list[float]:
        return [statistics.median(block) * 1e3 for block in self.rounds]

    @property
    def cpu_ms(self) -> float:
        """CPU time of the whole process per iteration (every thread): the work, whatever the load."""
        return self.cpu_seconds / len(self.seconds) * 1e3

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.seconds, q)) * 1e3


def read_bandwidth(buffer, repeats: int = 3) -> float:
    """Bytes per second of summing ``buffer`` (a float32 torch tensor) with torch's intra-op threads."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        buffer.sum()
        best = min(best, time.perf_counter() - start)
    return buffer.numel() * buffer.element_size() / best


def open_runners(models: ArchModels, threads: int) -> dict:
    from alexnet_deploy.runtimes.registry import available, open_runner

    status = available()
    runners = {}
    for label, (backend, key, _) in RUNNERS.items():
        if not status[backend].ok:
            print(f"  skipped {label}: {status[backend].reason}")
            continue
        options = {"threads": threads}
        if backend == "ort-cpu":
            options["spinning"] = False
        runners[label] = open_runner(backend, str(getattr(models, key)), **options)
    return runners


def time_all(archs: dict[str, ArchModels], *, batches, threads: int, rounds: int, block_s: float, buffer) -> dict:
    """Every runner of every arch at every batch, in blocks interleaved round by round (the order rotating).

    Both archs share every round, so their ratio compares runs made minutes
    apart at most, under the same machine load. Returns
    {arch: {"samples": {batch: {label: Samples}}, "bandwidth": [bytes/s per round]}}.
    """
    runners = {(arch, label): runner for arch, models in archs.items()
               for label, runner in open_runners(models, threads).items()}
    rng = np.random.default_rng(0)
    feeds = {(arch, b): {"input": rng.standard_normal((b, 3, m.input_size, m.input_size)).astype(np.float32)}
             for arch, m in archs.items() for b in batches}
    samples = {arch: {b: {label: Samples() for (a, label) in runners if a == arch} for b in batches} for arch in archs}
    iterations = {}
    for b in batches:  # warm-up, and how many iterations fill one block
        for (arch, label), runner in runners.items():
            runner.infer(feeds[arch, b])
            one = min(runner.timed(feeds[arch, b], 2).total)
            iterations[arch, label, b] = max(2, min(50, int(block_s / max(one, 1e-4))))
    bandwidth = []
    keys = list(runners)
    for r in range(rounds):
        bandwidth.append(read_bandwidth(buffer))
        order = keys[r % len(keys):] + keys[: r % len(keys)]
        for b in batches:
            for arch, label in order:
                runner = runners[arch, label]
                runner.infer(feeds[arch, b])  # one untimed run after the previous backend
                cpu = time.process_time()
                block = runner.timed(feeds[arch, b], iterations[arch, label, b]).total
                samples[arch][b][label].cpu_seconds += time.process_time() - cpu
                samples[arch][b][label].rounds.append(list(block))
        print(f"  round {r + 1}/{rounds} done", flush=True)
    for runner in runners.values():
        runner.close()
    return {arch: {"samples": samples[arch], "bandwidth": bandwidth} for arch in archs}


def paired(numerators: list[float], denominators: list[float]) -> float:
    """The median over rounds of numerator / denominator, both from the same round: drift and load cancel."""
    return statistics.median(n / d for n, d in zip(numerators, denominators))


def print_arch(arch: str, models: ArchModels, timing: dict, *, threads: int) -> dict:
    """The table of one arch; returns the numbers for the summary and JSON.

    "x faster than torch" and "x floor" are taken round by round (a runner's
    round median against torch's, or against the floor from that round's
    bandwidth) and the median of those is shown.
    """
    bandwidth = statistics.median(timing["bandwidth"])
    floors = {p: models.weight_bytes[p] / bandwidth * 1e3 for p in models.weight_bytes}
    print(f"\n{arch}: {models.input_size}x{models.input_size}, 1000 classes, {threads} threads; read bandwidth "
          f"{bandwidth / 1e9:.1f} GB/s (median of {len(timing['bandwidth'])}, range "
          f"{min(timing['bandwidth']) / 1e9:.1f}-{max(timing['bandwidth']) / 1e9:.1f}); weight-read floor "
          + ", ".join(f"{p} {models.weight_bytes[p] / 1e6:.0f} MB -> {floors[p]:.2f} ms" for p in floors)
          + " per batch")
    out = {"bandwidth_gbs": bandwidth / 1e9, "floors_ms": floors, "batches": {}}
    for batch, per_label in timing["samples"].items():
        torch_rounds = per_label["torch eager fp32"].round_ms if "torch eager fp32" in per_label else None
        print(f"  batch {batch}:  {'runner':18} {'median ms':>10} {'p10-p90 ms':>15} {'best round':>10} "
              f"{'CPU ms':>8} {'x faster than torch':>20} {'x floor':>8} {'ms/image':>9}")
        rows = {}
        for label, s in per_label.items():
            precision = RUNNERS[label][2]
            median = s.median_ms
            round_floors = [models.weight_bytes[precision] / bw * 1e3 for bw in timing["bandwidth"]]
            vs_torch = paired(torch_rounds, s.round_ms) if torch_rounds else float("nan")
            vs_floor = paired(s.round_ms, round_floors)
            rows[label] = {"median_ms": median, "p10_ms": s.percentile_ms(10), "p90_ms": s.percentile_ms(90),
                           "best_round_ms": s.best_round_ms, "cpu_ms": s.cpu_ms, "samples": len(s.seconds),
                           "round_ms": s.round_ms, "vs_torch": vs_torch, "vs_floor": vs_floor}
            print(f"  {'':9} {label:18} {median:10.2f} {s.percentile_ms(10):7.2f}-{s.percentile_ms(90):<7.2f} "
                  f"{s.best_round_ms:10.2f} {s.cpu_ms:8.2f} {vs_torch:20.2f} {vs_floor:8.2f} {median / batch:9.2f}")
        out["batches"][batch] = rows
    return out


def print_cross(results: dict, batches) -> None:
    if not all(a in results for a in ARCHS):
        return
    print("\npaper / torchvision (same backend, same batch): round by round, best rounds, CPU time")
    for batch in batches:
        paper, tv = results["paper"]["batches"][batch], results["torchvision"]["batches"][batch]
        for label in (l for l in paper if l in tv):
            ratios = [paired(paper[label]["round_ms"], tv[label]["round_ms"])]
            ratios += [paper[label][key] / tv[label][key] for key in ("best_round_ms", "cpu_ms")]
            print(f"  batch {batch}  {label:18} " + "  ".join(f"{r:5.2f}" for r in ratios))


def print_targets(results: dict, accuracy: dict | None) -> list[str]:
    """The acceptance targets at batch 1, each with its numbers; returns the lines."""
    lines = []

    def best(arch: str, labels: list[str]) -> tuple[str, dict]:
        rows = results[arch]["batches"][1]
        label = min((l for l in labels if l in rows), key=lambda l: rows[l]["median_ms"])
        return label, rows[label]

    def line(ok: bool, text: str) -> None:
        lines.append(f"  [{'met' if ok else 'NOT met'}] {text}")

    for arch in (a for a in ARCHS if a in results and 1 in results[a]["batches"]):
        label, row = best(arch, INT8_LABELS)
        line(row["vs_torch"] >= 7, f"{arch}: best INT8 ({label}, {row['median_ms']:.2f} ms) is {row['vs_torch']:.2f}x "
                                    f"faster than torch eager fp32 (target >= 7x)")
        line(row["vs_floor"] <= 1.5, f"{arch}: best INT8 is {row['vs_floor']:.2f}x the int8 weight-read floor "
                                     f"(target <= 1.5x)")
        label32, row32 = best(arch, FP32_LABELS)
        line(row32["vs_floor"] <= 1.25, f"{arch}: best fp32 ({label32}, {row32['median_ms']:.2f} ms) is "
                                        f"{row32['vs_floor']:.2f}x the fp32 weight-read floor (target <= 1.25x)")
    if all(a in results and 1 in results[a]["batches"] for a in ARCHS):
        (lp, paper), (lt, tv) = best("paper", INT8_LABELS), best("torchvision", INT8_LABELS)
        ratio = paired(paper["round_ms"], tv["round_ms"])
        line(ratio <= 1.2, f"paper INT8 ({lp}) / torchvision INT8 ({lt}) = {ratio:.2f} (target <= 1.2)")
    if accuracy:
        drop = accuracy["top1"]["fp32 (ort)"] - accuracy["top1"]["int8-cpu (ort)"]
        line(drop <= 0.5, f"CPU INT8 top-1 drop on the demo val split: {drop:.2f} pp (target <= 0.5 pp)")
    print("\nTargets (batch 1):")
    print("\n".join(lines))
    return lines


def demo_accuracy(demo_model: Path, demo_data: Path, workdir: Path, threads: int) -> dict | None:
    """Top-1 of the demo model's FP32 and INT8 models on its val split, on onnxruntime and OpenVINO."""
    from alexnet_deploy.artifacts.onnx_meta import read_meta
    from alexnet_deploy.data.labelled import load_labelled_split
    from alexnet_deploy.runtimes.registry import available, open_runner
    from alexnet_deploy.verify.accuracy import top1_percent

    if not demo_model.is_file() or not demo_data.is_dir():
        print(f"\nNo demo model ({demo_model}) or data ({demo_data}); run `make demo` for the top-1 figures.")
        return None
    files = demo_int8_models(demo_model, demo_data, workdir)
    meta = read_meta(demo_model)
    val = load_labelled_split(demo_data, class_names=meta.class_names, input_size=meta.input_size, resize=meta.resize,
                              mean=meta.mean, std=meta.std)
    backends = [("ort", "ort-cpu")] + ([("openvino", "openvino")] if available()["openvino"].ok else [])
    top1 = {}
    for short, backend in backends:
        for key, path in (("fp32", demo_model), ("int8-trt", files["trt"]), ("int8-cpu", files["cpu"])):
            with open_runner(backend, str(path), threads=threads) as runner:
                top1[f"{key} ({short})"] = top1_percent(runner, val, class_names=meta.class_names)
    print(f"\nTop-1 on the demo val split ({len(val)} images, {demo_model.name}, {meta.arch} at {meta.input_size} px):")
    for name, value in top1.items():
        base = top1[f"fp32 ({name.split('(')[1]}"]
        print(f"  {name:22} {value:6.2f} %  {value - base:+.2f} pp vs fp32 on the same backend")
    return {"images": len(val), "top1": top1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--block", type=float, default=0.3, help="seconds of timed runs per runner per round")
    parser.add_argument("--workdir", type=Path, default=Path("build/bench_cpu"))
    parser.add_argument("--demo-model", type=Path, default=Path("runs/demo/alexnet.onnx"))
    parser.add_argument("--demo-data", type=Path, default=Path("data/synth"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import importlib.metadata

    import torch

    torch.set_num_threads(args.threads)
    versions = []
    for package in ("torch", "onnxruntime", "openvino"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} not installed")
    print(f"{platform.processor() or platform.machine()}, {args.threads} threads; {', '.join(versions)}")
    buffer = torch.ones(BANDWIDTH_BYTES // 4)
    archs = {arch: build_arch_models(arch, args.workdir) for arch in args.archs}
    print(f"\ntiming {len(RUNNERS)} runners x {len(archs)} archs, batches {args.batches}, {args.rounds} rounds ...",
          flush=True)
    timing = time_all(archs, batches=args.batches, threads=args.threads, rounds=args.rounds, block_s=args.block,
                      buffer=buffer)
    del buffer
    results = {arch: print_arch(arch, models, timing[arch], threads=args.threads) for arch, models in archs.items()}
    print_cross(results, args.batches)
    accuracy = demo_accuracy(args.demo_model, args.demo_data, args.workdir, args.threads)
    targets = print_targets(results, accuracy)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"results": results, "accuracy": accuracy, "targets": targets}, indent=2))


if __name__ == "__main__":
    main()
