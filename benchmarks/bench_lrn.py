"""LRN speed: the custom op against torch.nn.functional.local_response_norm, side by side.

Run: .venv/bin/python benchmarks/bench_lrn.py [--repeats 30]
Prints forward and forward+backward medians and the ratio ours / torch (the goal
is at most 1.5) on an 8x96x55x55 input, the paper's conv1 output at batch 8.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from alexnet_deploy.model.lrn import LocalResponseNorm

SIZE, ALPHA, BETA, K = 5, 5e-4, 0.75, 2.0


def _median_ms(fn, repeats: int) -> float:
    for _ in range(3):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.manual_seed(0)
    x = torch.randn(8, 96, 55, 55)
    ours = LocalResponseNorm(SIZE, ALPHA, BETA, K)

    def torch_lrn(t):
        return F.local_response_norm(t, SIZE, ALPHA, BETA, K)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, input {tuple(x.shape)}")
    for label, grad in (("forward", False), ("forward+backward", True)):
        xs = x.clone().requires_grad_(grad)

        def run(fn):
            def step():
                y = fn(xs)
                if grad:
                    y.sum().backward()

            with torch.set_grad_enabled(grad):
                return _median_ms(step, args.repeats)

        # Interleave so drift in machine speed hits both sides alike.
        a1, b1 = run(ours), run(torch_lrn)
        a2, b2 = run(ours), run(torch_lrn)
        a, b = (a1 + a2) / 2, (b1 + b2) / 2
        print(f"{label:17} custom op {a:7.2f} ms   F.local_response_norm {b:7.2f} ms   ratio {a / b:.2f}")


if __name__ == "__main__":
    main()
