"""The third-party example package (examples/clinpred-olmo), installed for real.

CI installs it (``pip install -e examples/clinpred-olmo``); when it is missing this test FAILS,
because a plugin system that is only tested with fakes is not tested.
"""

from __future__ import annotations

import importlib.metadata as md
import json

from click.testing import CliRunner

from clinpred.cli.main import cli
from clinpred.registry.registry import load_registry

INSTALL = "pip install -e examples/clinpred-olmo"


def _distribution() -> md.Distribution:
    try:
        return md.distribution("clinpred-olmo")
    except md.PackageNotFoundError:
        raise AssertionError(f"the example plugin package is not installed; run: {INSTALL}") from None


def test_example_package_declares_a_clinpred_entry_point():
    points = [ep for ep in _distribution().entry_points if ep.group == "clinpred"]
    assert [(ep.name, ep.value) for ep in points] == [("olmo", "clinpred_olmo")]


def test_example_family_appears_in_clinpred_families():
    _distribution()
    result = CliRunner().invoke(cli, ["families", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["olmo"]["plugin"] == "olmo"
    assert rows["olmo"]["default_model"] == "mlx-community/OLMo-2-1124-7B-Instruct-4bit"
    assert {"llama", "mistral", "phi", "qwen", "gemma", "deepseek-r1"} <= set(rows)


def test_example_plugin_is_listed_as_an_entry_point_plugin_and_can_be_disabled(monkeypatch):
    version = _distribution().version
    info = next(i for i in load_registry().plugins() if i.name == "olmo")
    assert (info.source, info.status, info.version) == ("entrypoint", "loaded", version)
    assert "clinpred_render_chat" in info.hooks
    monkeypatch.setenv("CLINPRED_DISABLE_PLUGINS", "olmo")
    registry = load_registry()
    assert "olmo" not in {spec.name for spec in registry.families()}
    assert next(i for i in registry.plugins() if i.name == "olmo").status == "blocked"


def test_example_family_is_inferred_from_its_model_ids():
    _distribution()
    assert load_registry().infer_family("mlx-community/OLMo-2-1124-7B-Instruct-4bit").name == "olmo"
