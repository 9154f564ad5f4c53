"""The models ``bench_cpu.py`` times, built once into a work folder with the project's own stages.

Per arch: a checkpoint with random weights at the native input size and 1000
classes, its FP32 export, the FP16 model, and the INT8 models of both layouts
from one calibration on drawn images (speed does not depend on the weights or
the images). Each file is rebuilt only when it is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

CALIB_IMAGES = 64


@dataclass(frozen=True)
class ArchModels:
    arch: str
    input_size: int
    checkpoint: Path
    fp32: Path
    fp16: Path
    int8_trt: Path
    int8_cpu: Path
    weight_bytes: dict  # precision -> bytes of the weights one inference reads


def initializer_bytes(path: Path) -> int:
    """Bytes of every initializer of an ONNX file: what one inference has to read at least once."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    return sum(numpy_helper.to_array(t).nbytes for t in model.graph.initializer)


def build_arch_models(arch: str, workdir: Path) -> ArchModels:
    """Build (or reuse) every model of ``arch`` in ``workdir / arch``."""
    import torch

    from alexnet_deploy.artifacts.checkpoint import make_checkpoint, save_checkpoint
    from alexnet_deploy.artifacts.onnx_meta import read_meta
    from alexnet_deploy.data.samples import image_batch
    from alexnet_deploy.export.exporter import export_onnx
    from alexnet_deploy.model.zoo import build
    from alexnet_deploy.precision.fp16 import convert_fp16
    from alexnet_deploy.precision.quantize import QuantizeConfig
    from alexnet_deploy.precision.targets import build_targets, cpu_sibling

    folder = workdir / arch
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint, fp32, fp16 = folder / "alexnet.pt", folder / "alexnet.onnx", folder / "alexnet.fp16.onnx"
    int8 = folder / "alexnet.int8.onnx"
    if not checkpoint.is_file():
        torch.manual_seed(0)
        save_checkpoint(checkpoint, make_checkpoint(build(arch, num_classes=1000).eval(), arch=arch))
    if not fp32.is_file():
        print(f"  exporting {arch} ...", flush=True)
        export_onnx(checkpoint, fp32)
    meta = read_meta(fp32)
    calib = folder / "calib.npy"
    if not calib.is_file():
        images, _ = image_batch(meta, data_dir=None, count=CALIB_IMAGES)
        np.save(calib, images.astype(np.float32))
    if not fp16.is_file():
        print(f"  converting {arch} to fp16 ...", flush=True)
        convert_fp16(fp32, fp16, calib_images=np.load(calib)[:16])
    if not (int8.is_file() and cpu_sibling(int8).is_file()):
        print(f"  quantizing {arch} (both INT8 layouts) ...", flush=True)
        build_targets(fp32, calib, int8, target="all", cache_dir=folder / "cache",
                      config=QuantizeConfig(num_images=CALIB_IMAGES, min_images=CALIB_IMAGES))
    weight_bytes = {"fp32": initializer_bytes(fp32), "fp16": initializer_bytes(fp16),
                    "int8": initializer_bytes(cpu_sibling(int8))}
    return ArchModels(arch=arch, input_size=meta.input_size, checkpoint=checkpoint, fp32=fp32, fp16=fp16,
                      int8_trt=int8, int8_cpu=cpu_sibling(int8), weight_bytes=weight_bytes)


def demo_int8_models(demo_model: Path, demo_data: Path, workdir: Path) -> dict[str, Path]:
    """Both INT8 layouts of the demo model, calibrated on the demo's calib/ split (rebuilt when the model is newer)."""
    from alexnet_deploy.precision.targets import build_targets, cpu_sibling

    folder = workdir / "demo"
    out = folder / "alexnet.int8.onnx"
    files = {"trt": out, "cpu": cpu_sibling(out)}
    fresh = all(p.is_file() and p.stat().st_mtime >= demo_model.stat().st_mtime for p in files.values())
    if not fresh:
        print("  quantizing the demo model (both INT8 layouts) ...", flush=True)
        folder.mkdir(parents=True, exist_ok=True)
        build_targets(demo_model, demo_data / "calib", out, target="all", cache_dir=folder / "cache")
    return files
