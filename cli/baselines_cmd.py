"""``clinpred baselines``: the classical baselines alone (a shortcut for ``run --baselines-only``)."""

from __future__ import annotations

import click

from clinpred.cli.bounded import BoundedInt
from clinpred.cli.output import format_option
from clinpred.cli.run_cmd import run
from clinpred.core import bounds as B


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="model_configs.toml to use (default: the bundled one).")
@click.option("--data", type=click.Path(dir_okay=False), help="A dataset file following the schema (default: the synthetic cohort).")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default: runs/run-YYYYmmdd-HHMMSS).")
@click.option("--cv", type=BoundedInt(B.CV_FOLDS), help="Repeated stratified k-fold with K folds instead of the 80/10/10 hold-out.")
@click.option("--repeats", type=BoundedInt(B.CV_REPEATS), help="Repeats of the k-fold cross-validation.")
@click.option("--seed", type=BoundedInt(B.SEED), help="Seed for splits and baselines.")
@click.option("--resume", is_flag=True, help="Continue the run in --out, skipping completed units.")
@format_option("How to print the comparison on stdout: table (default), or csv, json or markdown (the model table "
               "with every estimate's CI; every other line then goes to stderr).")
@click.pass_context
def baselines(ctx: click.Context, config_path: str | None, data: str | None, out: str | None, cv: int | None,
              repeats: int | None, seed: int | None, resume: bool, fmt: str) -> None:
    """Majority class, LASSO, random forest and gradient boosting on the same splits and
    statistics as `clinpred run` (no LLM, no model download; seconds on a laptop)."""
    ctx.invoke(run, config_path=config_path, data=data, out=out, cv=cv, repeats=repeats, seed=seed,
               resume=resume, baselines_only=True, fmt=fmt)
