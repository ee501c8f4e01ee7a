"""``clinpred prompt``: the exact prompt, training text and label tokens for one record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from clinpred.cli.context import app
from clinpred.cli.output import echo_json


@click.command()
@click.option("--family", help="Family to render for (its default model's tokenizer unless --model).")
@click.option("--model", "model", metavar="NAME_OR_ID", help="A catalog name, configured name, hub id or local model directory.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="A run config (configured model names and its [dataset]) or a dataset schema file; needed "
              "with --data of your own (the default schema is the synthetic cohort's).")
@click.option("--data", type=click.Path(dir_okay=False), help="Dataset file (default: the schema's own data; "
              "without --config the synthetic cohort, i.e. no real patient).")
@click.option("--row", default="0", show_default=True, metavar="N|ID",
              help="Which record: a whole number is the 0-based row; other text, or id:VALUE (for ids that "
              "are numbers), is a patient id of the id column.")
@click.option("--answer", type=click.Choice(["yes", "no"]), default="yes", show_default=True, help="The answer in the training text.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def prompt(ctx: click.Context, family: str | None, model: str | None, config_path: str | None, data: str | None,
           row: str, answer: str, as_json: bool) -> None:
    """Show the scoring prompt, the training text with the trained span marked, and the label
    token ids, for one record. This is how to check a family plugin.

    With your own data (--data, or the file a schema names) the record is a real patient's and
    is printed: keep the output private. Your own data needs its schema: --config with a dataset schema file (clinpred data init
    drafts one) or a run config whose [dataset] names it.
    """
    from clinpred.core.run.config_dataset import load_config_dataset, load_config_file
    from clinpred.core.errors import UserError
    from clinpred.core.weights.loading import load_tokenizer
    from clinpred.core.weights.model_source import resolve_source
    from clinpred.core.run.plan import select_models
    from clinpred.core.llm.prompt_view import prompt_view

    if not family and not model:
        raise UserError("give --family F or --model NAME_OR_ID (see `clinpred families`)")
    registry = app(ctx).registry
    config = load_config_file(config_path, models=registry)
    offline = False
    if model is None:
        spec = registry.family(family)
        offline = not spec.default_model or not _locally_available(spec, registry)
        model = spec.default_model
    if offline:  # the family's format from its template, without downloading the model
        from clinpred.core.llm.template_preview import template_preview

        dataset, index = _dataset(load_config_dataset, config, data, row)
        view = template_preview(registry, spec, dataset.schema.task, dataset.records([index])[0], answer == "yes")
        view.update(model=model, row=index, patient_id=dataset.ids[index])
        echo_json(view) if as_json else _show_text_only(view)
        return
    plan = select_models(config, registry, models=[model], family_names=[family] if family else [])[0]
    if plan.unavailable:
        raise UserError(plan.unavailable)
    if family and plan.family is not None and plan.family.name != registry.family(family).name:
        raise UserError(
            f"--family {family} disagrees with --model {model}, which is of family {plan.family.name!r}; "
            "drop --family or give a model of that family"
        )
    tokenizer = load_tokenizer(resolve_source(plan.model_id, [plan.catalog] if plan.catalog else []))
    dataset, index = _dataset(load_config_dataset, config, data, row)
    schema = dataset.schema
    view = prompt_view(registry, plan.family, tokenizer, schema.task, dataset.records([index])[0], answer == "yes")
    view.update(model=plan.model_id, row=index, patient_id=dataset.ids[index])
    if as_json:
        echo_json(view)
        return
    _show(view)


def _dataset(load: Any, config: Any, data: str | None, row: str) -> tuple[Any, int]:
    """The dataset and the position of the record --row names."""
    from clinpred.core.data.row_select import select_row

    dataset = load(config, data)
    return dataset, select_row(dataset.ids, row, dataset.schema.id_column)


def _locally_available(spec: Any, registry: Any) -> bool:
    """Whether the family's default model is on this machine (no network is used)."""
    from clinpred.core.weights.model_source import local_path

    for _family, entry in registry.catalog():
        if entry.name == spec.default_model or entry.hub_id == spec.default_model:
            return local_path(entry) is not None
    return Path(str(spec.default_model)).expanduser().exists()


def _show_text_only(view: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.text import Text

    console = Console()
    console.rule(f"row {view['row']} (id {escape(str(view['patient_id']))}): [bold]family {view['family']}[/] "
                 f"(text only; {view['model']} is not on this machine)")
    console.print("[bold]Scoring prompt[/]:")
    console.print(Text(view["scoring_prompt"]), style="cyan")
    console.print("[bold]Training text[/] (the answer [reverse]highlighted[/]):")
    text = Text(view["scoring_prompt"], style="cyan")
    text.append(view["answer"], style="reverse bold")
    text.append(view["completion"][len(view["answer"]):], style="dim")
    console.print(text)
    if view["stop"]:
        console.print(f"generation stops at: {view['stop']}")
    console.print(f"[yellow]note:[/] {view['note']}")


def _show(view: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.text import Text

    console = Console()
    console.rule(f"row {view['row']} (id {escape(str(view['patient_id']))}): [bold]{view['model']}[/] (family {view['family']})")
    console.print("[bold]Scoring prompt[/] (P(answer) is read right after its last token):")
    console.print(Text(view["scoring_prompt"]), style="cyan")
    console.print(f"[bold]Training text[/] ({view['n_training_tokens']} tokens; the trained spans, the answer and "
                  "the end of turn, are [reverse]highlighted[/]):")
    text = Text(view["scoring_prompt"], style="cyan")
    text.append(view["answer"], style="reverse bold")
    rest = view["completion"][len(view["answer"]):]
    turn = view["end_of_turn_span"]["text"]
    trained = turn if rest.startswith(turn) else ""
    text.append(trained, style="reverse")
    text.append(rest[len(trained):], style="dim")
    console.print(text)
    span = view["trained_span"]
    console.print(f"trained tokens {span['start']}..{span['end']}: ids {span['ids']} = {span['text']!r}")
    turn_span = view["end_of_turn_span"]
    if turn_span["ids"]:
        console.print(f"end-of-turn tokens {turn_span['start']}..{turn_span['end']}: ids {turn_span['ids']} = "
                      f"{turn_span['text']!r} (trained at end_of_turn_weight)")
    for word, ids in view["label_token_ids"].items():
        console.print(f"label token ids for {word!r}: " + ", ".join(f"{t['id']} ({t['text']!r})" for t in ids))
    if view["stop"]:
        console.print(f"generation stops at: {view['stop']}")
