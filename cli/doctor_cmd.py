"""``clinpred doctor``: device, BLAS, precision policy, cache and plugins at a glance."""

from __future__ import annotations

import importlib.metadata as md
import platform
from typing import Any

import click

from clinpred.cli.context import app
from clinpred.cli.output import echo_json, print_table


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def doctor_report(registry: Any) -> dict[str, Any]:
    """Everything ``clinpred doctor`` shows, as JSON-ready data."""
    from clinpred import __version__
    from clinpred.core.weights import blas, cache
    from clinpred.core.weights.device import backend, policy_text, resolve_precision

    blas_info = blas.describe()  # before mlx is imported by backend(): the CLI has preloaded it
    device = backend()
    kernels = _kernels()
    models = [
        {"name": name, "path": str(path), "size_bytes": cache.dir_size(path)}
        for name, path in cache.cached_models().items()
    ]
    infos = registry.plugins()
    hints = [blas_info["hint"]] if blas_info.get("hint") else []
    failed = [{"name": i.name, "error": i.error} for i in infos if i.status == "failed"]
    if failed:
        hints.append(f"{len(failed)} plugin(s) failed to load: see `clinpred plugins`")
    if kernels["failed"]:
        hints.append(f"the vectorized CPU kernels are off: {kernels['reason']}; MLX's own (slower) CPU ops are used")
    return {
        "clinpred": __version__,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "mlx": _version("mlx"),
        "mlx_lm": _version("mlx-lm"),
        "device": device,
        "blas": blas_info,
        "precision": {"auto": resolve_precision("auto", device), "policy": policy_text(device)},
        "kernels": kernels,
        "cache": {
            "path": str(cache.home()),
            "env": cache.HOME_ENV,
            "size_bytes": cache.dir_size(cache.home()),
            "models": models,
        },
        "plugins": {
            "loaded": sorted(i.name for i in infos if i.status == "loaded"),
            "failed": failed,
            "blocked": [{"name": i.name, "reason": i.error} for i in infos if i.status == "blocked"],
            "families": [spec.name for spec in registry.families()],
            "models": [adapter.name for adapter in registry.model_adapters()],
        },
        "hints": hints,
    }


def _kernels_text(k: dict[str, Any]) -> str:
    if k["in_use"]:
        return f"{k['isa']}, {k['threads']} threads ({k['path']})"
    return f"off: {k['reason']}"


def _kernels() -> dict[str, Any]:
    """The CPU kernels' status (built now if this is their first use); a failure is a hint, not
    a second warning line."""
    import warnings

    from clinpred.core.weights import cpu_kernels

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = cpu_kernels.status()
    return {**status.to_dict(), "env": cpu_kernels.NO_KERNELS_ENV}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--address", default=None, metavar="auto|HOST:PORT",
              help="Also ask every node of this Ray cluster which device its units would use.")
@click.pass_context
def doctor(ctx: click.Context, as_json: bool, address: str | None) -> None:
    """Check the setup: device, BLAS in use, vectorized CPU kernels, precision policy, cache,
    plugins (and, with --address, the device of every Ray worker node)."""
    from clinpred.core.weights.cache import human_size

    if address is not None and not address.strip():  # an unset shell variable: not "no cluster"
        raise click.UsageError("--address is empty; give auto or HOST:PORT, or leave --address out")
    report = doctor_report(app(ctx).registry)
    if address:
        from clinpred.core.run.executors.ray_nodes import probe_nodes

        report["workers"] = probe_nodes(address)
    if as_json:
        echo_json(report)
        return
    b = report["blas"]
    blas_text = f"{b['name']} ({b['path']})" if b.get("path") else b["name"]
    if not b["optimized"]:
        blas_text += " - slow" + (" (CLINPRED_NO_BLAS is set)" if b["opted_out"] else "")
    plugins = report["plugins"]
    cache_info = report["cache"]
    rows = [
        ["clinpred", report["clinpred"]],
        ["python", f"{report['python']} ({report['platform']})"],
        ["mlx / mlx-lm", f"{report['mlx']} / {report['mlx_lm']}"],
        ["device", report["device"]],
        ["BLAS", blas_text],
        ["CPU kernels", _kernels_text(report["kernels"])],
        ["precision", report["precision"]["policy"]],
        ["cache", f"{cache_info['path']} ({human_size(cache_info['size_bytes'])}; set {cache_info['env']} to move it)"],
        ["cached models", ", ".join(f"{m['name']} ({human_size(m['size_bytes'])})" for m in cache_info["models"])
         or "none (`clinpred models pull smollm2-135m-instruct`)"],
        ["plugins", f"{len(plugins['loaded'])} loaded, {len(plugins['failed'])} failed, "
                    f"{len(plugins['blocked'])} blocked; families: {', '.join(plugins['families'])}; "
                    f"models: {', '.join(plugins['models'])}"],
    ]
    print_table("clinpred doctor", ["check", "status"], rows)
    if "workers" in report:
        print_table(f"Ray workers ({address})", ["node", "device", "BLAS", "clinpred / mlx", "resources"], [
            [w["node"], w.get("device", w.get("error", "?")), w.get("blas", ""),
             f"{w.get('clinpred')} / {w.get('mlx')}" if "clinpred" in w else "",
             ", ".join(f"{k} {v:g}" for k, v in sorted(w["resources"].items()))]
            for w in report["workers"]])
    for hint in report["hints"]:
        click.echo(f"Hint: {hint}", err=True)
