"""Where the CPU-layout INT8 model spends its time in onnxruntime: per layer, with MACs and the rate reached.

Run after bench_cpu.py (it reuses the models in its --workdir):
    .venv/bin/python benchmarks/profile_cpu_int8.py [--runs 60] [--threads 2]

onnxruntime's profiler times every node (2 threads, spinning off, batch 1);
the minimum over the runs is taken per node, the least disturbed figure on a
shared machine. The two archs run alternately, so both see the same load.
Conv layers are compared by GMAC/s (compute-bound), Gemm layers by GB/s of
int8 weights streamed (memory-bound at batch 1), and the LRN lowering (every
node it made, with the dequantization feeding it) as one line.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from pathlib import Path

import numpy as np
import onnx

ARCHS = ("paper", "torchvision")


def layer_macs(model: onnx.ModelProto) -> dict[str, int]:
    """Multiply-accumulates per Conv/Gemm node of a QDQ model (weights read through their DequantizeLinear)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    dims = {t.name: list(t.dims) for t in model.graph.initializer}
    producer = {out: node for node in model.graph.node for out in node.output}
    macs = {}
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm") or node.input[1] not in producer:
            continue  # float nodes (the LRN window sum) read their weights directly
        weight = dims[producer[node.input[1]].input[0]]
        if node.op_type == "Gemm":
            macs[node.name] = weight[0] * weight[1]
        else:
            out = shapes.get(node.output[0]) or next(shapes[c.output[0]] for c in model.graph.node
                                                     if node.output[0] in c.input)
            macs[node.name] = int(np.prod(out[1:])) * int(np.prod(weight[1:]))
    return macs


def profiled_session(path: Path, *, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.mkdtemp(prefix="ort-profile-")) / "run")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def node_minima(session) -> tuple[dict, float]:
    """Per node (op, name): the fastest run; and the median whole run, after the warm-up runs."""
    events = json.loads(Path(session.end_profiling()).read_text())
    per_node, totals = collections.defaultdict(list), []
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            per_node[(event["args"]["op_name"], event["name"][: -len("_kernel_time")])].append(event["dur"] / 1e3)
        elif event.get("name") == "model_run":
            totals.append(event["dur"] / 1e3)
    warm = 5
    return {key: min(times[warm:]) for key, times in per_node.items()}, float(np.median(totals[warm:]))


def report(arch: str, path: Path, session) -> None:
    model = onnx.load(str(path))
    macs = layer_macs(model)
    lowered = {n.name for n in model.graph.node if "lrn" in n.name.lower()}
    minima, median = node_minima(session)
    lines = collections.Counter()
    for (op, name), ms in minima.items():
        layer = name.split("_token")[0]
        if layer in macs:
            lines[layer] += ms
        elif any(name.startswith(n) for n in lowered) or op == "DequantizeLinear":
            lines["LRN lowering (+ the dequantization feeding it)"] += ms
        else:
            lines[f"other: {op}"] += ms
    print(f"\n{arch} ({path.name}): model run median {median:.2f} ms; sum of per-node minima "
          f"{sum(lines.values()):.2f} ms")
    for name, ms in sorted(lines.items(), key=lambda kv: -kv[1]):
        rate = ""
        if name in macs:
            rate = f"{macs[name] / 1e6:8.1f} MMAC {macs[name] / ms / 1e6:7.1f} GMAC/s"
            if "Gemm" in next(n.op_type for n in model.graph.node if n.name == name):
                rate += f" = {macs[name] / ms / 1e6:5.1f} GB/s of int8 weights"
        print(f"  {ms:7.2f} ms  {name:48} {rate}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("build/bench_cpu"))
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    from alexnet_deploy.artifacts.onnx_meta import read_meta

    paths = {arch: args.workdir / arch / "alexnet.int8-cpu.onnx" for arch in ARCHS}
    for path in paths.values():
        if not path.is_file():
            raise SystemExit(f"{path} is missing; run benchmarks/bench_cpu.py first.")
    sessions = {arch: profiled_session(path, threads=args.threads) for arch, path in paths.items()}
    rng = np.random.default_rng(0)
    feeds = {arch: {"input": rng.standard_normal((1, 3, read_meta(p).input_size, read_meta(p).input_size),
                                                 dtype=np.float32)} for arch, p in paths.items()}
    for _ in range(args.runs):
        for arch, session in sessions.items():
            session.run(None, feeds[arch])
    for arch, session in sessions.items():
        report(arch, paths[arch], session)


if __name__ == "__main__":
    main()
