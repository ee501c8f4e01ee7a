"""The one error hierarchy of clinpred.

The CLI turns a :class:`UserError` into one line and exit status 2 (bad input or configuration),
and any other :class:`ClinpredError` into one line and exit status 1 (a runtime failure).
Messages say what is wrong and what to do; they never contain patient rows.
"""

from __future__ import annotations


class ClinpredError(Exception):
    """Base class of every error clinpred raises on purpose."""

    exit_code = 1


class UserError(ClinpredError):
    """Bad input or configuration: the user can fix it (exit status 2)."""

    exit_code = 2


class ConfigError(UserError):
    """model_configs.toml (or a dataset schema) is malformed or has impossible values."""


class DataError(UserError):
    """A dataset file is missing, malformed or does not match its schema."""


class UnknownFamilyError(UserError):
    """A family name or alias that no loaded plugin registered."""


class UnknownModelError(UserError):
    """A model adapter name (a baseline, ``method``) that no loaded plugin registered."""


class FamilyUnavailableError(ClinpredError):
    """A known family whose plugin failed to load or is blocked: only its models fail."""


class PluginError(ClinpredError):
    """A plugin failed to import, to register, or a hook raised / returned the wrong type."""


class RenderError(PluginError):
    """A family's chat rendering breaks the prompt-prefix property (training would be wrong)."""


class ModelError(UserError):
    """A model cannot be found, downloaded, converted or loaded."""


class TrainingError(ClinpredError):
    """Fine-tuning failed at run time."""


class RunError(ClinpredError):
    """A run directory is inconsistent or cannot be written at run time."""


class RunDirectoryError(UserError):
    """The user's choice of run directory is wrong: --out already holds a run, --resume of a
    directory with no run or of a run with other data or settings, an --out that cannot be
    created, or a directory another process is writing (exit status 2)."""


class KernelError(ClinpredError):
    """clinpred's vectorized CPU kernels cannot be built or loaded here. Never fatal: the caller
    warns (:class:`KernelWarning`) and MLX's own ops are used."""


class ClinpredWarning(UserWarning):
    """A warning clinpred gives on purpose; the CLI shows it as one line."""


class KernelWarning(ClinpredWarning):
    """The vectorized CPU kernels are off for a reason the user may want to fix."""


class CorruptRunFileError(RunDirectoryError):
    """A file of a run directory is unreadable, not JSON, or JSON of the wrong shape (exit status 2);
    the message says what recovers it (``--resume`` recomputes a unit file; a run.json is restored
    or the run started anew)."""
