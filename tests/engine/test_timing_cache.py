"""The timing cache file lock: one holder at a time across processes, released on exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from alexnet_deploy.engine.timing_cache import file_lock, read_cache_bytes

TRY_LOCK = textwrap.dedent("""
    import fcntl, sys
    with open(sys.argv[1], "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("busy")
        else:
            print("free")
""")


def _other_process_sees(lock_path) -> str:
    return subprocess.run([sys.executable, "-c", TRY_LOCK, str(lock_path)], capture_output=True, text=True,
                          timeout=60).stdout.strip()


def test_lock_excludes_another_process_until_released(tmp_path):
    cache = tmp_path / "shared" / "trt.cache"
    with file_lock(cache) as lock_path:
        assert lock_path == tmp_path / "shared" / "trt.cache.lock"
        assert _other_process_sees(lock_path) == "busy"
    assert _other_process_sees(lock_path) == "free"


def test_read_cache_bytes(tmp_path):
    cache = tmp_path / "trt.cache"
    assert read_cache_bytes(cache) == b""
    cache.write_bytes(b"\x01timing")
    assert read_cache_bytes(cache) == b"\x01timing"
