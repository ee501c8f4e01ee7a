"""Shared test setup: make the helper modules in tests/ importable (pytest runs with
``--import-mode=importlib``, which does not put the test directory on ``sys.path``)."""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
