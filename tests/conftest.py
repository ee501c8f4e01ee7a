"""Shared test setup.

- Make the helper modules in tests/ importable (pytest runs with ``--import-mode=importlib``,
  which does not put the test directory on ``sys.path``).
- Every test starts with no plugin allow/deny lists from the environment.
"""

import os
import sys
from pathlib import Path

import pytest

from clinpred.core.weights import blas, kernel_build

# The optimized BLAS must be loaded before any test module imports mlx (at collection time),
# or every real-model test runs on MLX's reference BLAS (10-25x slower).
blas.activate()

# The vectorized CPU kernels are built once into the real cache, also for tests (and their
# subprocesses) that point CLINPRED_HOME at a temporary folder.
os.environ.setdefault(kernel_build.KERNELS_DIR_ENV, str(kernel_build.kernels_root()))

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)


@pytest.fixture(autouse=True)
def _clean_plugin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLINPRED_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("CLINPRED_DISABLE_PLUGINS", raising=False)
