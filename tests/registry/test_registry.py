"""Plugin discovery, allow/deny lists, failures, duplicates and per-family routing."""

from __future__ import annotations

import sys
import textwrap
import types
from pathlib import Path

import pytest

from clinpred.api import FamilySpec, ParsedOutput, ParseStatus, Prompt, Record, TaskSpec, hookimpl
from clinpred.core.errors import FamilyUnavailableError, PluginError, UnknownFamilyError
from clinpred.registry.loading import Candidate
from clinpred.registry.registry import load_registry

TASK = TaskSpec(question="Will it rain?")
RECORD = Record(id="p1", features=())


def module(name: str, **attrs: object) -> types.ModuleType:
    mod = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(mod, key, value)
    return mod


def family_plugin(family: str, reply: str | None = None, **extra: object) -> types.ModuleType:
    """A plugin registering ``family`` whose format_prompt answers ``reply``."""

    @hookimpl
    def clinpred_register_families(register):
        register(FamilySpec(name=family, aliases=[f"{family}-alias"], model_patterns=[family]))

    attrs: dict[str, object] = {"clinpred_register_families": clinpred_register_families}
    if reply is not None:

        @hookimpl
        def clinpred_format_prompt(family, record, task):
            return Prompt(user=reply)

        attrs["clinpred_format_prompt"] = clinpred_format_prompt
    attrs.update(extra)
    return module(f"plug_{family}", **attrs)


def cand(name: str, mod: types.ModuleType | Exception, source: str = "entrypoint") -> Candidate:
    def load() -> types.ModuleType:
        if isinstance(mod, Exception):
            raise mod
        return mod

    return Candidate(name, source, f"test:{name}", "1.0", load)


def test_routing_uses_only_the_owning_family_plugin() -> None:
    reg = load_registry(candidates=[cand("a", family_plugin("alpha", "from A")), cand("b", family_plugin("beta", "from B"))])
    assert reg.format_prompt("alpha", RECORD, TASK).user == "from A"
    assert reg.format_prompt("beta", RECORD, TASK).user == "from B"
    assert reg.format_prompt("beta-alias", RECORD, TASK).user == "from B"


def test_core_default_answers_when_family_implements_nothing() -> None:
    reg = load_registry(candidates=[cand("a", family_plugin("alpha"))])
    parsed = reg.parse_output("alpha", "**Answer:** No.", TASK)
    assert parsed == ParsedOutput(False, ParseStatus.OK, "**Answer:** No.")


def test_cross_cutting_plugin_stays_in_the_chain() -> None:
    @hookimpl(tryfirst=True)
    def clinpred_format_prompt(family, record, task):
        return Prompt(user=f"wrapped for {family.name}")

    wrapper = module("wrapper", clinpred_format_prompt=clinpred_format_prompt)
    reg = load_registry(candidates=[cand("a", family_plugin("alpha", "from A")), cand("w", wrapper)])
    assert reg.format_prompt("alpha", RECORD, TASK).user == "wrapped for alpha"


def test_import_failure_is_recorded_and_others_work() -> None:
    reg = load_registry(candidates=[cand("broken", ImportError("No module named 'torch'")), cand("a", family_plugin("alpha", "A"))])
    info = {i.name: i for i in reg.plugins()}["broken"]
    assert info.status == "failed"
    assert "No module named 'torch'" in info.error
    assert [f.name for f in reg.families()] == ["alpha"]
    with pytest.raises(FamilyUnavailableError, match="family 'broken' is unavailable: its plugin 'broken' failed"):
        reg.family("broken")


def test_strict_mode_raises_naming_the_plugin() -> None:
    with pytest.raises(PluginError, match="plugin 'broken'"):
        load_registry(candidates=[cand("broken", RuntimeError("boom"))], strict=True)


def test_register_hook_raising_fails_only_that_plugin() -> None:
    @hookimpl
    def clinpred_register_families(register):
        raise ValueError("bad spec")

    reg = load_registry(candidates=[cand("bad", module("bad", clinpred_register_families=clinpred_register_families)), cand("a", family_plugin("alpha", "A"))])
    info = {i.name: i for i in reg.plugins()}["bad"]
    assert info.status == "failed" and "bad spec" in info.error
    assert reg.format_prompt("alpha", RECORD, TASK).user == "A"


def test_registering_a_non_spec_fails_the_plugin() -> None:
    @hookimpl
    def clinpred_register_families(register):
        register("alpha")

    reg = load_registry(candidates=[cand("bad", module("bad", clinpred_register_families=clinpred_register_families))])
    assert "takes a FamilySpec" in reg.plugins()[-1].error


def test_misspelled_hook_is_reported() -> None:
    @hookimpl
    def clinpred_format_promt(family, record, task):  # typo on purpose
        return None

    reg = load_registry(candidates=[cand("typo", module("typo", clinpred_format_promt=clinpred_format_promt))])
    info = reg.plugins()[-1]
    assert info.status == "failed" and "clinpred_format_promt" in info.error


def test_duplicate_family_is_refused_naming_both_plugins() -> None:
    reg = load_registry(candidates=[cand("first", family_plugin("alpha", "1")), cand("second", family_plugin("alpha", "2"))])
    info = {i.name: i for i in reg.plugins()}["second"]
    assert info.status == "failed"
    assert "'alpha' is already registered by plugin 'first'" in info.error
    assert reg.format_prompt("alpha", RECORD, TASK).user == "1"


def test_unknown_family_lists_available_and_suggests() -> None:
    reg = load_registry(candidates=[cand("a", family_plugin("alpha"))])
    with pytest.raises(UnknownFamilyError, match=r"unknown family 'alpah' \(did you mean 'alpha'\?\); available families: alpha"):
        reg.family("alpah")


def test_hook_that_raises_names_plugin_and_family() -> None:
    @hookimpl
    def clinpred_parse_output(family, text, task):
        raise KeyError("oops")

    reg = load_registry(candidates=[cand("a", family_plugin("alpha", clinpred_parse_output=clinpred_parse_output))])
    with pytest.raises(PluginError, match="plugin 'a', family 'alpha': clinpred_parse_output raised KeyError"):
        reg.parse_output("alpha", "Yes", TASK)


def test_hook_returning_wrong_type_names_plugin_and_family() -> None:
    @hookimpl
    def clinpred_format_prompt(family, record, task):
        return "a plain string"

    reg = load_registry(candidates=[cand("a", family_plugin("alpha", clinpred_format_prompt=clinpred_format_prompt))])
    with pytest.raises(PluginError, match="plugin 'a', family 'alpha': clinpred_format_prompt returned str, expected Prompt"):
        reg.format_prompt("alpha", RECORD, TASK)


def test_allow_and_deny_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    cands = lambda: [cand("a", family_plugin("alpha")), cand("b", family_plugin("beta"))]  # noqa: E731
    monkeypatch.setenv("CLINPRED_DISABLE_PLUGINS", "a")
    reg = load_registry(candidates=cands())
    assert [f.name for f in reg.families()] == ["beta"]
    with pytest.raises(FamilyUnavailableError, match="its plugin 'a' is blocked"):
        reg.family("a")
    monkeypatch.delenv("CLINPRED_DISABLE_PLUGINS")
    monkeypatch.setenv("CLINPRED_LOAD_PLUGINS", "b")
    assert [f.name for f in load_registry(candidates=cands()).families()] == ["beta"]
    monkeypatch.setenv("CLINPRED_LOAD_PLUGINS", "")
    assert load_registry(candidates=cands()).families() == []


def test_builtins_can_be_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    names = {f.name for f in load_registry().families()}
    assert "qwen" in names
    monkeypatch.setenv("CLINPRED_DISABLE_PLUGINS", "qwen")
    assert "qwen" not in {f.name for f in load_registry().families()}


def test_infer_family_prefers_longest_pattern() -> None:
    @hookimpl
    def clinpred_register_families(register):
        register(FamilySpec(name="base", model_patterns=[r"qw"]))
        register(FamilySpec(name="distill", model_patterns=[r"r1-distill"]))

    reg = load_registry(candidates=[cand("x", module("x", clinpred_register_families=clinpred_register_families))])
    assert reg.infer_family("org/R1-Distill-Qw-1B").name == "distill"
    assert reg.infer_family("org/Qw-7B").name == "base"
    assert reg.infer_family("org/other") is None


def _fake_distribution(root: Path, name: str, source: str) -> None:
    (root / f"{name}.py").write_text(textwrap.dedent(source))
    info = root / f"{name}-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(f"[clinpred]\n{name} = {name}\n")


def test_entry_point_plugins_from_fake_distributions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_distribution(
        tmp_path,
        "clinpred_fakefam",
        """
        from clinpred.api import FamilySpec, hookimpl

        @hookimpl
        def clinpred_register_families(register):
            register(FamilySpec(name="fakefam", model_patterns=["fakefam"]))
        """,
    )
    _fake_distribution(tmp_path, "clinpred_broken", "raise ImportError('needs a GPU library')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = load_registry()
    infos = {i.name: i for i in reg.plugins()}
    assert infos["clinpred_fakefam"].source == "entrypoint"
    assert infos["clinpred_fakefam"].version == "0.3"
    assert infos["clinpred_fakefam"].families == ["fakefam"]
    assert infos["clinpred_broken"].status == "failed"
    assert "needs a GPU library" in infos["clinpred_broken"].error
    assert reg.family("fakefam").name == "fakefam"
    sys.modules.pop("clinpred_fakefam", None)


def test_render_chat_routes_to_the_family_plugin_and_checks_the_type() -> None:
    @hookimpl
    def clinpred_render_chat(family, tokenizer, prompt, answer):
        from clinpred.api import RenderedChat

        return RenderedChat(prompt=f"<{family.name}>{prompt.user}<a>", completion=f"{answer}</a>", answer=answer)

    reg = load_registry(candidates=[cand("a", family_plugin("alpha", clinpred_render_chat=clinpred_render_chat)),
                                    cand("b", family_plugin("beta"))])
    rendered = reg.render_chat("alpha", object(), Prompt(user="q"), "Yes")
    assert rendered.text == "<alpha>q<a>Yes</a>"
    # beta implements nothing: the core default needs a tokenizer with a chat template
    from clinpred.core.errors import RenderError

    with pytest.raises(RenderError, match="plugin 'b', family 'beta': the tokenizer has no chat template"):
        reg.render_chat("beta", object(), Prompt(user="q"), "Yes")
