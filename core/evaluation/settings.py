"""How every model is evaluated (``[evaluation]`` of model_configs.toml); nothing here is tuned on
the test part. The same settings reach every model adapter, so no model is evaluated differently."""

from __future__ import annotations

from typing import Any, Mapping

from attrs import define

from clinpred.core import bounds as B
from clinpred.core.errors import ConfigError
from clinpred.core.tomlfile import check_keys, expect_type

PROTOCOLS = ("holdout", "cv", "internal-external")
THRESHOLDS = ("youden", "f1", "fixed")
BALANCES = ("oversample", "class-weight", "none")
#: ``reference`` value that picks the baseline with the best validation AUROC
BEST_ON_VALIDATION = "best-on-validation"


@define(frozen=True)
class EvaluationConfig:
    """How models are evaluated; nothing here is ever tuned on the test part.

    ``reference`` is the baseline every model is compared with (a registered baseline's name) or
    ``best-on-validation``; None until the run is assembled (then: the registered default reference,
    LASSO, when it runs, else ``best-on-validation``).
    """

    seed: int = 42
    protocol: str = "holdout"  # holdout (stratified 80/10/10) | cv (repeated stratified k-fold) | internal-external
    cv_folds: int = 5
    cv_repeats: int = 1
    val_fraction: float = 0.125
    threshold: str = "youden"  # youden | f1 | fixed
    fixed_threshold: float = 0.5
    bootstrap: int = 1000
    #: none | oversample | class-weight: how the training part is balanced (none: as it is; the
    #: original study oversampled the minority class, which shifts every model's risks: benchmarks/bench_balance.py)
    balance: str = "none"
    generate: bool = True
    max_new_tokens: int = 12
    store_prompts: bool = True
    reference: str | None = None
    #: baselines add a 0/1 "value missing" column per feature with missing values in the training part
    #: (an LLM reads "not recorded": with indicators the baselines see the same information)
    missing_indicators: bool = True
    #: permutation-importance repeats per feature on each validation part (0: off); models that use an
    #: LLM take ``llm_importance_repeats`` (each repeat is one scoring pass of the validation part per feature)
    importance_repeats: int = 5
    llm_importance_repeats: int = 1
    #: the anticipated Cox-Snell R-squared of the sample-size statement (None: 0.15 x its maximum)
    anticipated_r2: float | None = None


#: key -> (type, check, what the check means)
RULES: dict[str, tuple[Any, Any, str]] = {
    "seed": (int, B.SEED, B.SEED.meaning),
    "protocol": (str, lambda v: v in PROTOCOLS,
                 "holdout, cv or internal-external (leave one site out; needs [dataset] site_column)"),
    "cv_folds": (int, B.CV_FOLDS, B.CV_FOLDS.meaning),
    "cv_repeats": (int, B.CV_REPEATS, B.CV_REPEATS.meaning),
    "val_fraction": ((int, float), lambda v: 0 < v < 0.5, "in (0, 0.5)"),
    "threshold": (str, lambda v: v in THRESHOLDS, "youden, f1 or fixed"),
    "fixed_threshold": ((int, float), B.PROBABILITY, B.PROBABILITY.meaning),
    "bootstrap": (int, B.BOOTSTRAP, B.BOOTSTRAP.meaning),
    "balance": (str, lambda v: v in BALANCES, "oversample, class-weight or none"),
    "generate": (bool, lambda v: True, ""),
    "max_new_tokens": (int, B.MAX_NEW_TOKENS, B.MAX_NEW_TOKENS.meaning),
    "store_prompts": (bool, lambda v: True, ""),
    "reference": (str, lambda v: bool(v.strip()), "a baseline name or best-on-validation"),
    "missing_indicators": (bool, lambda v: True, ""),
    "importance_repeats": (int, B.IMPORTANCE_REPEATS, B.IMPORTANCE_REPEATS.meaning),
    "llm_importance_repeats": (int, B.IMPORTANCE_REPEATS, B.IMPORTANCE_REPEATS.meaning),
    "anticipated_r2": ((int, float), B.R2,
                       B.R2.meaning + " (a Cox-Snell R-squared, below its maximum for the outcome rate)"),
}


def parse_evaluation(table: Mapping[str, Any], where: str) -> EvaluationConfig:
    """``[evaluation]`` -> :class:`EvaluationConfig`; one :class:`ConfigError` line per problem
    (whether ``reference`` names a baseline of the run is checked when the run is assembled)."""
    check_keys(table, RULES, where)
    for key, value in table.items():
        types, ok, meaning = RULES[key]
        expect_type(value, types, where, key)
        if not ok(value):
            raise ConfigError(f"{where}: {key} = {value!r} is impossible; it must be {meaning}")
    return EvaluationConfig(**dict(table))
