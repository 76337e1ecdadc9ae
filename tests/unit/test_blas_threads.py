"""The component runs numpy's BLAS on one thread unless its deployment sets OPENBLAS_NUM_THREADS.

OpenBLAS starts a thread per core when numpy is loaded, and after a NOVELTY
comparison those threads spin for about 0.1 s: a core taken from the model
on the device. The threads are counted in /proc, in a fresh interpreter that
loads the component's entry point first, as `python -m ml_feedback` does.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

COUNT_THREADS = """
import os, sys
import ml_feedback.__main__
assert "numpy" not in sys.modules, "the entry point loads numpy itself"
before = len(os.listdir("/proc/self/task"))
import numpy
numpy.ones((2000, 512), dtype=numpy.float32) @ numpy.ones(512, dtype=numpy.float32)
print(len(os.listdir("/proc/self/task")) - before)
"""


def threads_numpy_starts(**environment: str) -> int:
    env = {name: value for name, value in os.environ.items() if name not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    result = subprocess.run([sys.executable, "-c", COUNT_THREADS], capture_output=True, text=True, timeout=60, env={**env, **environment})
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenBLAS starts no threads of its own on one core")
def test_numpy_starts_no_blas_threads_in_the_component():
    assert threads_numpy_starts() == 0


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenBLAS starts no threads of its own on one core")
def test_a_deployments_own_setting_is_kept():
    assert threads_numpy_starts(OPENBLAS_NUM_THREADS="2") == 1
