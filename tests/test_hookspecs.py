"""Meta-tests: every hook is documented, exported and exercised by a test."""

from __future__ import annotations

import inspect
from pathlib import Path

from clinpred.core import hookspecs

TESTS = Path(__file__).parent


def test_every_hook_has_a_docstring_saying_what_it_returns() -> None:
    for name in hookspecs.ALL_HOOKS:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert len(doc) > 80, f"{name} is not documented"
        assert "return" in doc.lower(), f"{name}'s docstring does not say what it returns"


def test_hook_list_matches_the_module() -> None:
    declared = {n for n in dir(hookspecs) if n.startswith("clinpred_")}
    assert declared == set(hookspecs.ALL_HOOKS)


def test_every_hook_is_used_in_a_test() -> None:
    text = "\n".join(p.read_text() for p in TESTS.rglob("test_*.py") if p.name != Path(__file__).name)
    for name in hookspecs.ALL_HOOKS:
        assert f"def {name}" in text, f"no test implements {name}"


def test_every_hook_is_documented_in_the_readme() -> None:
    readme = (TESTS.parent / "README.md").read_text()
    for name in hookspecs.ALL_HOOKS:
        assert name in readme, f"README.md does not document {name}"
