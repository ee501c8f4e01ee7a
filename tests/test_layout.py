"""The engine's layout: stages of core/ import only down, and core/ imports no outer layer.

Stages (README, "Layout"): data, weights, evaluation <- llm <- models <- run <- report, with the shared
modules at the root of core/. Imports inside functions count too: a lazy import still ties a
lower stage to a higher one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "core"
STAGES = ("data", "weights", "evaluation", "llm", "models", "run", "report")
#: What each stage must never import.
FORBIDDEN = {
    "data": {"llm", "models", "run", "report"},
    "weights": {"llm", "models", "run", "report"},
    "evaluation": {"llm", "models", "run", "report"},
    "llm": {"models", "run", "report"},
    "models": {"run", "report"},
    "run": {"report"},
    "report": set(),
}
#: The root modules shared by every stage import no stage, except the core's fallback hook
#: implementations, which delegate to the serializer (data) and to rendering and parsing (llm).
ROOT_MAY_IMPORT = {"defaults": {"data", "llm"}}


def _module_name(path: Path) -> str:
    parts = path.relative_to(CORE).with_suffix("").parts
    return ".".join(("clinpred", "core", *parts)).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    """Every ``clinpred...`` module that ``path`` imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("clinpred"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("clinpred"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)  # `from pkg import module`
    return found


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 3 and parts[:2] == ["clinpred", "core"] and parts[2] in STAGES else None


MODULES = sorted(p for p in CORE.rglob("*.py"))


def test_every_stage_is_a_package_and_nothing_else_sits_in_core() -> None:
    dirs = {p.name for p in CORE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert dirs == set(STAGES)
    assert all((CORE / s / "__init__.py").is_file() for s in STAGES)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_imports_point_down(path: Path) -> None:
    module = _module_name(path)
    imported = _imports(path)
    outer = sorted(m for m in imported if m.split(".")[1] in {"cli", "registry", "plugins", "api"})
    assert not outer, f"{module} imports {outer}: core/ imports nothing outside it"
    stage = _stage(module)
    if stage is None:
        name = module.split(".")[-1]
        allowed = ROOT_MAY_IMPORT.get(name, set())
        bad = sorted(m for m in imported if _stage(m) and _stage(m) not in allowed)
        assert not bad, f"the shared module {module} imports the stage modules {bad}"
    else:
        bad = sorted(m for m in imported if _stage(m) in FORBIDDEN[stage])
        assert not bad, f"{module} (stage {stage}) imports the higher stage modules {bad}"


def test_no_import_cycle_between_core_modules() -> None:
    names = {_module_name(p): p for p in MODULES}
    graph = {m: {i for i in _imports(p) if i in names and i != m} for m, p in names.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: a data module importing the run stage is seen."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from clinpred.core.run.rundir import RunDirectory\n")
    assert {_stage(m) for m in _imports(bad)} >= {"run"}
    assert "run" in FORBIDDEN["data"]


ROOT = CORE.parent
#: engine modules: every core stage but the built-in model adapters (core/models), the registry and the CLI
ENGINE = sorted([p for p in MODULES if p.relative_to(CORE).parts[0] != "models"]
                + [*(ROOT / "registry").rglob("*.py"), *(ROOT / "cli").rglob("*.py")])


def _string_constants(path: Path) -> set[str]:
    return {n.value for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(n, ast.Constant) and isinstance(n.value, str)}


#: the unit kinds the engine used to dispatch on
UNIT_KINDS = {"baseline", "llm", "trial"}


def _kind_comparisons(path: Path) -> list[int]:
    """Lines comparing something with a unit-kind string literal (a dispatch on a kind string)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Compare):
            continue
        for side in [node.left, *node.comparators]:
            items = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
            if any(isinstance(e, ast.Constant) and e.value in UNIT_KINDS for e in items):
                out.append(node.lineno)
                break
    return out


def test_the_engine_names_no_model_and_dispatches_on_no_kind_string() -> None:
    """Every model is a model adapter: only the built-in adapters (core/models) name a baseline (the
    LLM methods' names are also mlx-lm's words, e.g. its "lora" fine-tune type)."""
    from clinpred.registry.registry import load_registry

    names = {a.name for a in load_registry().model_adapters() if not a.uses_llm} | {"xgboost"}
    for path in ENGINE:
        named = sorted(_string_constants(path) & names)
        assert not named, f"{path.relative_to(ROOT)} names the model(s) {named}: let its adapter declare that"
        kinds = _kind_comparisons(path)
        assert not kinds, f"{path.relative_to(ROOT)} compares a kind with a string at line(s) {kinds}"


def test_the_model_rule_catches_a_named_baseline(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('def f(spec):\n    if spec.kind == "baseline" and spec.name == "lasso":\n        return 1\n')
    assert "lasso" in _string_constants(bad) and _kind_comparisons(bad) == [2]


#: mlx-lm modules every architecture shares (the engine may patch or import these)
SHARED_MLX_LM_MODULES = {"base", "activations", "cache", "rope_utils", "switch_layers"}


def _architecture_modules(path: Path) -> set[str]:
    """``mlx_lm.models.<architecture>`` names in ``path``'s code (imports and string constants, not
    docstrings)."""
    found = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    for node in ast.walk(tree):
        if id(node) in docs:
            continue  # a docstring may explain what a plugin declares
        texts = [node.value] if isinstance(node, ast.Constant) and isinstance(node.value, str) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else \
            [a.name for a in node.names] if isinstance(node, ast.Import) else []
        for text in texts:
            found.update(m for m in re.findall(r"mlx_lm\.models\.(\w+)", text) if m not in SHARED_MLX_LM_MODULES)
    return found


def test_the_engine_names_no_architecture() -> None:
    """Architecture knowledge (e.g. which mlx-lm MLP computes its gate inline) is declared by family
    plugins (``FamilySpec.gated_mlps``, ``gguf_architectures``), never written into core/."""
    for path in MODULES:
        named = sorted(_architecture_modules(path))
        assert not named, f"{path.relative_to(ROOT)} names the mlx-lm architecture(s) {named}: declare it in a plugin"


def test_the_architecture_rule_catches_a_patched_model_module(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('import sys\nm = sys.modules.get("mlx_lm.models.gemma3_text")\nfrom mlx_lm.models import base\n')
    assert _architecture_modules(bad) == {"gemma3_text"}
