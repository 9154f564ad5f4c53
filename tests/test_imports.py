"""Every module imports on a machine without TensorRT, CUDA or NVML."""

import os
import subprocess
import sys
import textwrap

BLOCKED = ["tensorrt", "tensorrt_bindings", "pynvml", "pycuda", "cuda", "cupy"]


def test_every_module_imports_without_tensorrt_or_cuda():
    script = textwrap.dedent(
        f"""
        import importlib, importlib.abc, pkgutil, sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {BLOCKED!r}:
                    raise ImportError(f"{{name}} is blocked for this test")
                return None

        sys.meta_path.insert(0, Block())
        import alexnet_deploy
        names = [m.name for m in pkgutil.walk_packages(alexnet_deploy.__path__, "alexnet_deploy.")]
        for name in names:
            importlib.import_module(name)
        print(len(names))
        """
    )
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip().splitlines()[-1]) >= 8


def test_lazy_import_names_the_install_command():
    import pytest

    from alexnet_deploy.errors import MissingDependencyError
    from alexnet_deploy.core.lazy import lazy_import

    with pytest.raises(MissingDependencyError, match="pip install"):
        lazy_import("alexnet_deploy_no_such_module", purpose="testing")
