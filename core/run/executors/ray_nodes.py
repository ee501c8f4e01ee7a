"""What each node of a Ray cluster would run units with (for ``clinpred doctor --address``)."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from clinpred.core.run.executors.ray_executor import check_reachable, import_ray, node_name


def _probe() -> dict[str, Any]:
    """Runs on one node: its device, BLAS and versions, as a unit there would see them."""
    import importlib.metadata as md

    from clinpred.core.weights import blas

    blas.activate()
    from clinpred.core.weights.device import backend

    import ray

    def version(dist: str) -> str | None:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return None

    return {"node": node_name(ray), "device": backend(), "blas": blas.describe()["name"],
            "clinpred": version("clinpred"), "mlx": version("mlx"), "mlx_lm": version("mlx-lm"),
            "gpus_assigned": len(ray.get_gpu_ids())}


def probe_nodes(address: str, *, timeout: float = 120.0) -> list[dict[str, Any]]:
    """One probe task pinned to every alive node of the cluster at ``address``."""
    ray = import_ray()
    check_reachable(address)
    # Ray's driver prints cluster events ("(raylet) The node ... has been marked dead") to
    # sys.stdout from a background thread; they belong on stderr, not in `doctor --json`.
    with contextlib.redirect_stdout(sys.stderr):
        return _probe_all(ray, address, timeout)


def _probe_all(ray: Any, address: str, timeout: float) -> list[dict[str, Any]]:
    from clinpred.core.errors import RunError
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from clinpred.core.signals import keep_handlers

    try:
        with keep_handlers():
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RunError(f"cannot connect to the Ray cluster at {address!r}: {str(exc).splitlines()[0]}; "
                       "check `ray status` on the head node") from None
    try:
        probe = ray.remote(_probe)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        refs = [probe.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote() for n in nodes]
        out = []
        for node, ref in zip(nodes, refs):
            try:
                row = ray.get(ref, timeout=timeout)
            except Exception as exc:  # noqa: BLE001 - one broken node is a row, not a crash
                row = {"node": node["NodeID"][:8], "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"}
            row["resources"] = {k: v for k, v in node.get("Resources", {}).items() if not k.startswith("node:")}
            out.append(row)
        return out
    finally:
        ray.shutdown()
