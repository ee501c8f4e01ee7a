"""The public plugin API: everything a family plugin or a model plugin needs, from one stable module.

    from clinpred.api import FamilySpec, Prompt, RenderedChat, hookimpl

    @hookimpl
    def clinpred_register_families(register):
        register(FamilySpec(name="olmo", model_patterns=[r"olmo"], default_model="..."))

    from clinpred.api import TabularModel, hookimpl, param

    @hookimpl
    def clinpred_register_models(register):
        register(MyForest())  # a TabularModel (scikit-learn-style) or any ModelAdapter

See README.md, "Writing a family plugin" and "Writing a model plugin".
"""

from clinpred.core.errors import ClinpredError, PluginError, RenderError
from clinpred.core.hookspecs import hookimpl
from clinpred.core.llm.parsing import parse_answer
from clinpred.core.llm.rendering import messages, render_with_template
from clinpred.core.data.serialize import record_text, serialize
from clinpred.core.llm.tokens import decode, encode, hf_tokenizer
from clinpred.core.bounds import Bound
from clinpred.core.models.adapter import FittedModel, LoadContext, ModelAdapter
from clinpred.core.models.baselines import GradientBoosting, Lasso, Logistic, Majority, RandomForest
from clinpred.core.models.few_shot import FewShot
from clinpred.core.models.lora import LoraFineTune
from clinpred.core.models.probe import Probe
from clinpred.core.models.zero_shot import ZeroShot
from clinpred.core.evaluation.outcome import UnitOutcome
from clinpred.core.models.tabular import FitInfo, TabularModel
from clinpred.core.models.work import LLMSource, TrainingPart, UnitWork
from clinpred.core.params import NoParams, param
from clinpred.core.values import (
    CatalogEntry,
    FamilySpec,
    FeatureValue,
    GatedMLP,
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
    "Bound",
    "CatalogEntry",
    "ClinpredError",
    "FamilySpec",
    "FeatureValue",
    "FewShot",
    "FitInfo",
    "FittedModel",
    "GatedMLP",
    "GGUFArchitecture",
    "GGUFChunks",
    "GGUFWheel",
    "GradientBoosting",
    "LLMSource",
    "Lasso",
    "LoadContext",
    "Logistic",
    "LoraFineTune",
    "Majority",
    "MissingPolicy",
    "ModelAdapter",
    "NoParams",
    "ParsedOutput",
    "ParseStatus",
    "PluginError",
    "Probe",
    "Prompt",
    "RandomForest",
    "Record",
    "RenderError",
    "RenderedChat",
    "SerializationStyle",
    "Shot",
    "TabularModel",
    "TaskSpec",
    "TrainingPart",
    "UnitOutcome",
    "UnitWork",
    "ZeroShot",
    "decode",
    "encode",
    "hf_tokenizer",
    "hookimpl",
    "messages",
    "param",
    "parse_answer",
    "record_text",
    "render_with_template",
    "serialize",
]
