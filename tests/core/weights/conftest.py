"""GGUF conversions in these tests use the built-in families' GGUF declarations."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def builtin_gguf_formats():
    from clinpred.core.weights import gguf_formats
    from clinpred.registry.registry import load_registry

    before = gguf_formats.current()
    gguf_formats.install(load_registry(candidates=_builtins()).gguf_formats())
    yield
    gguf_formats.install(before)


def _builtins():
    from clinpred.registry.loading import builtin_candidates

    return builtin_candidates()
