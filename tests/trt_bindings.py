"""The real TensorRT Python bindings of each supported version, importable without TensorRT or a GPU.

NVIDIA's bindings wheels (``tensorrt-cu12-bindings``, ``tensorrt-cu13-bindings``,
module ``tensorrt_bindings``) are real; the libraries they link against cannot
be installed here. The bindings import once ``libnvinfer``, ``libnvinfer_plugin``
and ``libnvonnxparser`` of their major version are loaded and export nine C
symbols, so a few lines of C compiled with gcc, each returning NULL, stand in
for them. That gives every class, enum and signature of each version to test
against; creating a Builder or Runtime then fails exactly as it does on a
machine without a usable GPU.

Each wheel is installed once (``pip install --no-deps --target``) into
``.cache/trt-bindings/<version>/`` next to a ``tensorrt`` package shim that
loads the stubs and re-exports the bindings. ``tensorrt_env(version)`` is the
environment for a subprocess that imports that version as ``tensorrt``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

VERSIONS = {
    "10.3.0": "tensorrt-cu12-bindings==10.3.0",  # JetPack 6
    "10.16.1.11": "tensorrt-cu12-bindings==10.16.1.11",
    "11.4.0.106": "tensorrt-cu13-bindings==11.4.0.106",
}
REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("ALEXNET_DEPLOY_TRT_BINDINGS", REPO / ".cache" / "trt-bindings"))
STUBS = {
    "nvinfer": "void *createInferBuilder_INTERNAL(void *a, int b) { return 0; }\n"
               "void *createInferRefitter_INTERNAL(void *a, void *b, int c) { return 0; }\n"
               "void *createInferRuntime_INTERNAL(void *a, int b) { return 0; }\n"
               "void *getBuilderPluginRegistry(int a) { return 0; }\n"
               "void *getPluginRegistry(void) { return 0; }\n",
    "nvinfer_plugin": "int initLibNvInferPlugins(void *a, const char *b) { return 0; }\n",
    "nvonnxparser": "void *createNvOnnxParser_INTERNAL(void *a, void *b, int c) { return 0; }\n"
                    "void *createNvOnnxParserRefitter_INTERNAL(void *a, void *b, int c) { return 0; }\n"
                    "int getNvOnnxParserVersion(void) { return 0; }\n",
}
SHIM = '''"""`import tensorrt` for tests: NVIDIA's bindings over stub libraries (no TensorRT, no GPU)."""
import ctypes as _ctypes

for _lib in ("nvinfer", "nvinfer_plugin", "nvonnxparser"):
    _ctypes.CDLL({stubs!r} + "/lib" + _lib + ".so.{major}", mode=_ctypes.RTLD_GLOBAL)

from tensorrt_bindings import *  # noqa: E402,F401,F403
from tensorrt_bindings import __version__  # noqa: E402,F401
'''


class Unavailable(Exception):
    """The bindings or the stubs cannot be had here (no index, no C compiler)."""


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One installer at a time across processes (several checkouts may test at once)."""
    import fcntl

    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def stub_libraries(major: str) -> Path:
    """The folder of stub ``lib*.so.<major>`` files, compiled once."""
    folder = CACHE / "stubs" / major
    if all((folder / f"lib{name}.so.{major}").is_file() for name in STUBS):
        return folder
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise Unavailable("no C compiler (gcc or cc) to build the stub TensorRT libraries")
    with _locked(), tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        for name, source in STUBS.items():
            c_file = Path(tmp) / f"{name}.c"
            c_file.write_text(source)
            lib = f"lib{name}.so.{major}"
            run = subprocess.run([compiler, "-shared", "-fPIC", f"-Wl,-soname,{lib}", "-o", str(Path(tmp) / lib),
                                  str(c_file)], capture_output=True, text=True)
            if run.returncode:
                raise Unavailable(f"{compiler} could not build {lib}: {run.stderr.strip()[-500:]}")
        folder.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(dir=folder.parent))
        for lib in Path(tmp).glob("*.so.*"):
            shutil.move(str(lib), staged / lib.name)
        shutil.rmtree(folder, ignore_errors=True)
        staged.rename(folder)
    return folder


def bindings(version: str) -> Path:
    """``.cache/trt-bindings/<version>``: the wheel's ``tensorrt_bindings`` and the ``tensorrt`` shim."""
    target = CACHE / version
    major = version.split(".")[0]
    stubs = stub_libraries(major)
    if (target / "tensorrt" / "__init__.py").is_file():
        return target
    with _locked():
        if (target / "tensorrt" / "__init__.py").is_file():
            return target
        staged = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=CACHE))
        try:
            run = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                 "--only-binary=:all:", "--target", str(staged), VERSIONS[version]],
                capture_output=True, text=True, timeout=600,
            )
            if run.returncode:
                raise Unavailable(f"pip could not install {VERSIONS[version]}: {run.stderr.strip()[-800:]}")
            (staged / "tensorrt").mkdir()
            (staged / "tensorrt" / "__init__.py").write_text(SHIM.format(stubs=str(stubs), major=major))
            shutil.rmtree(target, ignore_errors=True)
            staged.rename(target)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    return target


def tensorrt_env(version: str) -> dict[str, str]:
    """Environment of a subprocess in which ``import tensorrt`` is that version's real bindings.

    Skips the calling test when the bindings cannot be had here; fails it
    instead under CI (``CI`` set), where they always can.
    """
    try:
        folder = bindings(version)
    except (Unavailable, subprocess.TimeoutExpired) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"TensorRT {version} bindings unavailable: {exc}")
        pytest.skip(f"TensorRT {version} bindings unavailable here: {exc}")
    path = [str(folder), str(REPO), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p), "CUDA_VISIBLE_DEVICES": "",
            "EXPECTED_TENSORRT_VERSION": version}
