"""Where units run: the ``[execution]`` table of model_configs.toml and ``clinpred run`` options.

```toml
[execution]
executor = "ray"          # local (default) | process | ray
jobs = 2                  # process: pool size (default: CPU count)
address = "auto"          # ray: "auto", "HOST:PORT" or "ray://HOST:PORT"; absent = start a local Ray
llm_gpus = 1              # ray: GPUs each LLM unit asks for (0 = CPU)
llm_cpus = 1              # ray: CPUs each LLM unit asks for
baseline_cpus = 1         # ray: CPUs each baseline unit asks for
memory_gb = 8             # ray: memory each LLM unit asks for (absent = no request)
max_retries = 3           # ray/process: re-runs of a unit whose worker (process) or node died
max_concurrent = 4        # ray/process: units in flight at once (absent: as many as fit)
checkpoint_upload_seconds = 10  # ray: how often a training unit sends its checkpoint to the driver's node
[execution.resources]     # ray: custom resources each LLM unit asks for
mac = 1
```

Command-line options override the table key by key.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from attrs import define, field, validators

from clinpred.core import bounds as B
from clinpred.core.errors import ConfigError
from clinpred.core.tomlfile import check_keys, expect_type

EXECUTORS = ("local", "process", "ray")


def _positive_or_none(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and not B.JOBS(value):
        raise ConfigError(f"[execution] {attribute.name} = {value!r} is impossible; it must be {B.JOBS.meaning}")


def _non_negative(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and (value < 0 or not math.isfinite(value)):
        raise ConfigError(f"[execution] {attribute.name} = {value!r} is impossible; it must be 0 or more")


def _within(bound: B.Bound) -> Any:
    def check(instance: Any, attribute: Any, value: Any) -> None:
        if not bound(value):
            raise ConfigError(f"[execution] {attribute.name} = {value!r} is impossible; it must be {bound.meaning}")
    return check


def _address(instance: Any, attribute: Any, value: str | None) -> None:
    if value is not None and not value.strip():
        raise ConfigError("the Ray address is empty (an unset shell variable in --address \"$VAR\"?); give auto "
                          "or HOST:PORT, or leave --address out to start a local Ray instance")


@define(frozen=True)
class ExecutionSettings:
    """How to run the units of a run (see the module docstring for each key)."""

    executor: str = field(default="local", validator=validators.in_(EXECUTORS))
    jobs: int | None = field(default=None, validator=_positive_or_none)
    address: str | None = field(default=None, validator=_address)
    llm_gpus: float = field(default=0.0, validator=_non_negative)
    llm_cpus: float = field(default=1.0, validator=_non_negative)
    baseline_cpus: float = field(default=1.0, validator=_non_negative)
    memory_gb: float | None = field(default=None, validator=_non_negative)
    resources: dict[str, float] = field(factory=dict, hash=False)
    max_retries: int = field(default=3, validator=_within(B.MAX_RETRIES))
    max_concurrent: int | None = field(default=None, validator=_positive_or_none)
    checkpoint_upload_seconds: float = field(default=10.0, validator=_within(B.CHECKPOINT_UPLOAD_SECONDS))


#: key -> accepted types
_KEYS: dict[str, type | tuple[type, ...]] = {
    "executor": str, "jobs": int, "address": str, "llm_gpus": (int, float), "llm_cpus": (int, float),
    "baseline_cpus": (int, float), "memory_gb": (int, float), "resources": dict, "max_retries": int,
    "max_concurrent": int, "checkpoint_upload_seconds": (int, float),
}


def parse_execution(table: Mapping[str, Any] | None, *, where: str = "[execution]",
                    overrides: Mapping[str, Any] | None = None) -> ExecutionSettings:
    """Validate an ``[execution]`` table, then apply command-line ``overrides`` (None = unset)."""
    table = dict(table or {})
    expect_type(table, dict, where, "the table")
    check_keys(table, _KEYS, where)
    for key, value in table.items():
        expect_type(value, _KEYS[key], where, key)
    if table.get("executor", "local") not in EXECUTORS:
        raise ConfigError(f"{where}: executor = {table['executor']!r} is unknown; choose from {', '.join(EXECUTORS)}")
    resources = table.get("resources", {})
    for name, amount in resources.items():
        expect_type(amount, (int, float), f"{where} resources", name)
        if amount < 0:
            raise ConfigError(f"{where} resources: {name} = {amount!r} is impossible; it must be 0 or more")
    table["resources"] = {str(k): float(v) for k, v in resources.items()}
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    table.update(given)
    executor = table.get("executor", "local")
    if "address" in given and executor != "ray":
        raise ConfigError("--address only applies to the ray executor; add --executor ray")
    if "jobs" in given and executor == "local":
        raise ConfigError("--jobs needs a parallel executor; add --executor process (or ray)")
    try:
        return ExecutionSettings(**table)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
