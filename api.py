"""The public plugin API: everything a model-family plugin needs, from one stable module.

    from clinpred.api import FamilySpec, Prompt, RenderedChat, hookimpl

    @hookimpl
    def clinpred_register_families(register):
        register(FamilySpec(name="olmo", model_patterns=[r"olmo"], default_model="..."))

See README.md, "Writing a family plugin".
"""

from clinpred.core.errors import ClinpredError, PluginError, RenderError
from clinpred.core.hookspecs import hookimpl
from clinpred.core.llm.parsing import parse_answer
from clinpred.core.llm.rendering import messages, render_with_template
from clinpred.core.data.serialize import record_text, serialize
from clinpred.core.llm.tokens import decode, encode, hf_tokenizer
from clinpred.core.values import (
    CatalogEntry,
    FamilySpec,
    FeatureValue,
    GGUFArchitecture,
    GGUFChunks,
    GGUFWheel,
    MissingPolicy,
    ParsedOutput,
    ParseStatus,
    Prompt,
    Record,
    RenderedChat,
    SerializationStyle,
    Shot,
    TaskSpec,
)

__all__ = [
    "CatalogEntry",
    "ClinpredError",
    "FamilySpec",
    "FeatureValue",
    "GGUFArchitecture",
    "GGUFChunks",
    "GGUFWheel",
    "MissingPolicy",
    "ParsedOutput",
    "ParseStatus",
    "PluginError",
    "Prompt",
    "Record",
    "RenderError",
    "RenderedChat",
    "SerializationStyle",
    "Shot",
    "TaskSpec",
    "decode",
    "encode",
    "hf_tokenizer",
    "hookimpl",
    "messages",
    "parse_answer",
    "record_text",
    "render_with_template",
    "serialize",
]
