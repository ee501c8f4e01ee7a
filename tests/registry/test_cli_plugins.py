"""`clinpred families`, `clinpred plugins`, --plugin, --strict-plugins and start-up cost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from clirun import clinpred

BUILTIN_FAMILIES = {"llama", "mistral", "phi", "qwen", "gemma", "deepseek-r1", "smollm"}


def test_families_json_lists_the_builtins_with_their_plugins() -> None:
    result = clinpred("families", "--json")
    assert result.code == 0, result.err
    rows = {r["name"]: r for r in json.loads(result.out)}
    assert BUILTIN_FAMILIES <= set(rows)
    assert rows["deepseek-r1"]["plugin"] == "deepseek_r1"
    assert rows["qwen"]["plugin"] == "qwen"
    assert rows["smollm"]["default_model"] == "smollm2-135m-instruct"


def test_disabling_a_builtin_removes_its_family() -> None:
    result = clinpred("families", "--json", env={"CLINPRED_DISABLE_PLUGINS": "qwen"})
    names = {r["name"] for r in json.loads(result.out)}
    assert "qwen" not in names and "llama" in names
    plugins = {p["name"]: p for p in json.loads(clinpred("plugins", "--json", env={"CLINPRED_DISABLE_PLUGINS": "qwen"}).out)}
    assert plugins["qwen"]["status"] == "blocked"


def test_broken_local_plugin_is_named_and_families_still_work(tmp_path: Path) -> None:
    broken = tmp_path / "broken_family.py"
    broken.write_text("import does_not_exist_anywhere\n")
    result = clinpred("--plugin", str(broken), "families", "--json")
    assert result.code == 0
    assert BUILTIN_FAMILIES <= {r["name"] for r in json.loads(result.out)}
    assert "plugin 'broken_family' failed" in result.err
    assert "does_not_exist_anywhere" in result.err
    strict = clinpred("--strict-plugins", "--plugin", str(broken), "families")
    assert strict.code == 1
    assert strict.err.count("\n") == 1 and "broken_family" in strict.err


def test_local_plugin_adds_a_family_and_shows_its_source(tmp_path: Path) -> None:
    path = tmp_path / "my_family.py"
    path.write_text(
        "from clinpred.api import FamilySpec, hookimpl\n"
        "@hookimpl\n"
        "def clinpred_register_families(register):\n"
        "    register(FamilySpec(name='mine', model_patterns=['mine']))\n"
    )
    plugins = {p["name"]: p for p in json.loads(clinpred("--plugin", str(path), "plugins", "--json").out)}
    assert plugins["my_family"]["source"] == "local"
    assert plugins["my_family"]["families"] == ["mine"]
    assert plugins["qwen"]["source"] == "builtin"
    assert plugins["clinpred.core.defaults"]["source"] == "core"


def test_missing_plugin_file_is_a_user_error(tmp_path: Path) -> None:
    result = clinpred("--plugin", str(tmp_path / "nope.py"), "families")
    assert result.code == 2
    assert "no such file" in result.err


def test_light_commands_do_not_import_mlx() -> None:
    code = (
        "import sys\n"
        "from clinpred.cli.main import main\n"
        "try:\n    main(['families', '--json'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('mlx', 'mlx_lm', 'sklearn', 'matplotlib', 'transformers') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_version() -> None:
    result = clinpred("--version")
    assert result.code == 0 and "clinpred" in result.out
