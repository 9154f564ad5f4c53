"""API conformance against the real bindings of TensorRT 10.3.0 (JetPack 6), 10.16.1.11 and 11.4.0.106.

Each version runs ``tests/engine/conformance/check_*.py`` in its own process,
where ``import tensorrt`` is that version's bindings over stub libraries (see
``tests/trt_bindings.py``): the API surface our code touches, the pure
decisions against that version's enums, and every command up to the hardware
boundary. The three processes start together, so on two cores the whole check
costs about as much as the slowest two.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.trt_bindings import REPO, VERSIONS, tensorrt_env

CHECKS = Path(__file__).resolve().parent / "conformance"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One running ``pytest`` over the checks per version (or the skip that version gets here)."""
    started = {}
    for version in VERSIONS:
        try:
            env = tensorrt_env(version)
        except pytest.skip.Exception as skip:
            started[version] = skip
            continue
        base = tmp_path_factory.mktemp(f"trt-{version}")
        started[version] = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "--noconftest", "-p", "no:cacheprovider", "-o",
             "python_files=check_*.py", "-o", "addopts=", f"--basetemp={base}", str(CHECKS)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
    yield started
    for run in started.values():
        if isinstance(run, subprocess.Popen) and run.poll() is None:
            run.kill()


@pytest.mark.slow  # three processes of a few seconds each, run side by side
@pytest.mark.parametrize("version", list(VERSIONS))
def test_tensorrt_api_conformance(runs, version):
    run = runs[version]
    if isinstance(run, BaseException):
        pytest.skip(str(run))
    output, _ = run.communicate(timeout=600)
    assert run.returncode == 0, f"TensorRT {version} conformance checks failed:\n{output[-12000:]}"
    assert " passed" in output and "skipped" not in output, output[-2000:]
