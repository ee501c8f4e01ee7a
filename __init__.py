"""clinpred: fine-tuned LLMs versus classical models on tabular clinical prediction tasks.

The repository root is this package: ``clinpred.core`` (the engine), ``clinpred.plugins`` (one
module per built-in model family), ``clinpred.registry`` (plugin discovery) and ``clinpred.cli``.
Plugin authors import from :mod:`clinpred.api` only.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("clinpred")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
