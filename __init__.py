"""clinpred: fine-tuned LLMs versus classical models on tabular clinical prediction tasks.

The repository root is this package: ``clinpred.core`` (the engine), ``clinpred.plugins`` (the
built-in family and model plugins), ``clinpred.registry`` (plugin discovery), ``clinpred.cli`` and
the Python API: ``clinpred.run(...)``, ``clinpred.load_run(RUN_DIR)`` and
``clinpred.sklearn.LLMClassifier`` (``python_api/``). Plugin authors import from :mod:`clinpred.api` only.
"""

from importlib import metadata as _metadata
from pathlib import Path as _Path

# clinpred.sklearn is python_api/sklearn.py (a sklearn.py at the package root, which is the
# repository root, would shadow scikit-learn for scripts run from a checkout). Only when imported
# as the package: pytest may execute this file as a plain module (a checkout in a folder whose
# name is not an identifier, e.g. "wt-23"), which has no __path__.
if "__path__" in globals():
    __path__.append(str(_Path(__file__).resolve().parent / "python_api"))  # type: ignore[name-defined]

try:
    __version__ = _metadata.version("clinpred")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"


def run(**options):  # noqa: ANN003, ANN201 - the options of `clinpred run`; see python_api/session.py
    """Run a comparison with the options of ``clinpred run`` and return its results
    (:class:`clinpred.python_api.session.RunResults`: ``.table()``, ``.metrics``, ``.run_dir``, ``.report()``)."""
    from clinpred.python_api.session import run as _run

    return _run(**options)


def load_run(run_dir):  # noqa: ANN001, ANN201
    """The results of a finished run directory (see :func:`run`)."""
    from clinpred.python_api.session import load_run as _load_run

    return _load_run(run_dir)


def synthetic_cohort(n=577, seed=42):  # noqa: ANN001, ANN201
    """The synthetic retained-placenta cohort as a DataFrame (what ``clinpred data synth`` writes)."""
    from clinpred.python_api.session import synthetic_cohort as _synthetic_cohort

    return _synthetic_cohort(n=n, seed=seed)
