"""The dataset a ``--config`` file describes, for ``clinpred data check``, ``prompt`` and ``run``.

``--config`` takes either a run config (a copy of the bundled model_configs.toml, whose
``[dataset]`` is a schema table or ``schema = "schema.toml"``; without ``[dataset]``, the bundled
schema of the synthetic cohort) or a bare dataset schema file (what ``clinpred data init`` writes).
A file that is neither, or a data file checked against the bundled schema because no schema was
given, gets one line that says which file to give.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from clinpred.core.data.dataset import Dataset, load_from_schema
from clinpred.core.data.schema import DatasetSchema, default_schema, parse_dataset_schema
from clinpred.core.errors import ConfigError, DataError
from clinpred.core.run.config import TABLES as CONFIG_TABLES
from clinpred.core.run.config import ModelLookup, RunConfig, load_config, parse_config
from clinpred.core.tomlfile import did_you_mean, read_toml

SCHEMA_KEYS = ("path", "id_column", "target_column", "positive_values", "negative_values", "missing_values",
               "features", "task", "schema", "group_column", "subgroups", "site_column", "min_cell")
WHICH = ("give a run config (tables [run], [evaluation], [dataset], [[models]], [baselines], [execution], [search]: a copy of "
         "the bundled model_configs.toml) or a dataset schema file (path, id_column, target_column, "
         "positive_values, [task], [[features]]; `clinpred data init DATA -o schema.toml` drafts one)")
INIT_HINT = "`clinpred data init DATA -o schema.toml` drafts one"


def load_config_file(path: str | Path | None, *, models: ModelLookup | None = None) -> RunConfig:
    """A run config or a bare dataset schema file as a :class:`RunConfig` (None: the bundled config);
    ``models`` (the plugin registry) checks its models as :func:`~clinpred.core.run.config.parse_config` does."""
    if path is None:
        return load_config(None, models=models)
    path = Path(path)
    data = read_toml(path)
    is_schema = any(k in data for k in SCHEMA_KEYS) and not any(k in data for k in CONFIG_TABLES)
    if not is_schema:
        unknown = [k for k in data if k not in CONFIG_TABLES]
        if unknown:
            key = unknown[0]
            raise ConfigError(f"{path}: unknown key {key!r}{did_you_mean(key, CONFIG_TABLES + SCHEMA_KEYS)}; {WHICH}")
    return parse_config(data, source=str(path), base_dir=path.resolve().parent, models=models)


def config_schema(config: RunConfig, data: str | None = None) -> DatasetSchema:
    """The config's dataset schema (or the bundled one), pointed at the file ``data`` if given."""
    if config.dataset:
        schema = parse_dataset_schema(config.dataset, where=f"{config.source} [dataset]", base_dir=config.base_dir)
    else:
        schema = default_schema()
    return schema.with_path(Path(data).expanduser().resolve()) if data else schema


def load_config_dataset(config: RunConfig, data: str | None = None, **kwargs: Any) -> Dataset:
    """The validated dataset of ``config`` (or the file ``data`` under its schema). A file that fails
    the bundled synthetic schema because the config names no schema says how to give one."""
    schema = config_schema(config, data)
    try:
        return load_from_schema(schema, **kwargs)
    except DataError as exc:
        if data is None or config.dataset or not Path(data).expanduser().is_file():
            raise
        where = ("no --config was given" if config.source.endswith("(bundled)")
                 else f"{config.source} has no [dataset] table")
        raise DataError(f"{exc} (checked against the bundled schema of the synthetic cohort: {where}; pass "
                        f"--config with your dataset schema file, or a run config whose [dataset] has "
                        f"schema = \"schema.toml\"; {INIT_HINT.replace('DATA', shlex.quote(str(data)))})") from None
