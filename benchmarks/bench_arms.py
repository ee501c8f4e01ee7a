"""Which LLM recipe is best, measured where the truth is known: every arm of the default model
(probe, zero-shot, few-shot, LoRA with either objective and several budgets) next to LASSO and
gradient boosting, on a large fresh sample of the synthetic generator, for both designs.

    python benchmarks/bench_arms.py [--quick] [--design release|numeric|both] [--arms a,b,...]
                                    [--n-fresh 2000] [--work DIR] [--out DIR] [--list]

Every arm trains on the same study-sized training part: a 577-patient cohort (seed 1) split 90/10
(stratified, seed 0) into 519 training and 58 validation patients (early stopping, checkpoint
selection, thresholds), used as it is (no oversampling: imbalance correction only shifts the
intercept and harms calibration). Each arm is scored on a fresh sample of the same generator and
design (``--n-fresh`` patients, seed 2) whose true probabilities give the Bayes ceiling.

Reported per arm: AUROC on the fresh sample with a stratified bootstrap 95% CI, the gap to the
Bayes ceiling (paired: the same resamples), the "expected AUROC" (the AUROC against the true
probabilities as soft labels, sum p_i (1 - p_j) [s_i > s_j]: the same target without the
label-drawing noise), the calibration slope, the spread of P(yes) (5th-95th percentile), the share of
generated answers that parse (greedy, on the first ``generate`` fresh patients), and wall time.
LoRA arms also record a monitor: at every validation (once per epoch, and at the end), the
expected AUROC on the first ``monitor`` fresh patients, so each checkpoint-selection rule (validation AUROC, answer loss, label log-loss,
last) can be judged against the checkpoint that was truly best.

The engine's functions do the work (``last_token_features`` + ``fit_probe``, ``score_p_yes``,
``few_shot_prompts``, ``train_lora``, ``generate_texts``, the baselines' unit). Each arm's result
is kept in ``--work`` (default benchmarks/results/arms-work/) as soon as it is done, so an
interrupted run continues where it stopped and arms can be added later (the frozen model's
forward passes, tens of minutes at full size, are kept there too, as ``features-*.pkl``); ``--list`` prints the
arms. At the end the table is printed and ``arms-<time>.json`` written to ``--out``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402

#: arm name -> (kind, settings). LoRA settings are model_configs.toml hyperparameters over the
#: default model's plugin defaults (200 steps, lr 1e-4, rank 8, top 8 layers).
ARMS: dict[str, tuple[str, dict[str, Any]]] = {
    "lasso": ("baseline", {}),
    "gradient_boosting": ("baseline", {}),
    "probe": ("probe", {}),
    "zero-shot": ("zero-shot", {}),
    "few-shot-8": ("few-shot", {"shots": 8}),
    "few-shot-32": ("few-shot", {"shots": 32}),
    "lora-answer": ("lora", {"objective": "answer-token"}),
    "lora-label": ("lora", {"objective": "label"}),
    "lora-answer-no-eot": ("lora", {"objective": "answer-token", "end_of_turn_weight": 0.0}),
    "lora-answer-5ep": ("lora", {"objective": "answer-token", "epochs": 5}),
    "lora-label-5ep": ("lora", {"objective": "label", "epochs": 5}),
    "lora-label-5ep-lr3e-4": ("lora", {"objective": "label", "epochs": 5, "learning_rate": 3e-4}),
    "lora-label-5ep-all-layers": ("lora", {"objective": "label", "epochs": 5, "lora_layers": 30}),
    "probe-sentences": ("probe", {"style": "sentences"}),
    "lora-label-5ep-lpft": ("lora", {"objective": "label", "epochs": 5, "head": "probe"}),
    "lora-label-lpft": ("lora", {"objective": "label", "head": "probe"}),
}
#: model_configs.toml keys -> TrainConfig fields (the arms' settings)
TRAIN_FIELDS = {"lora_rank": "rank", "lora_alpha": "alpha", "lora_layers": "lora_layers", "lora_dropout": "dropout",
                "learning_rate": "learning_rate", "num_iters": "iters", "epochs": "epochs", "batch_size": "batch_size",
                "eval_every": "eval_every", "objective": "objective", "end_of_turn_weight": "end_of_turn_weight",
                "label_mass_weight": "label_mass_weight", "unlikelihood_weight": "unlikelihood_weight",
                "select_metric": "select_metric", "early_stopping_patience": "early_stopping_patience"}
DEFAULT_ARMS = ("lasso", "gradient_boosting", "probe", "zero-shot", "few-shot-8", "few-shot-32",
                "lora-answer", "lora-label", "lora-answer-5ep", "lora-label-5ep")
QUICK_ARMS = ("lasso", "gradient_boosting", "probe", "zero-shot", "few-shot-8", "lora-answer", "lora-label")
CURVE_SIZES = (32, 64, 128, 256, 577)
SELECTION_RULES = ("auroc", "loss", "log_loss", "last")
GOAL = ("the best fine-tuned arm at least as good as the probe and within 0.02 AUROC of the Bayes ceiling at "
        "n = 577 on both designs, calibration slope in [0.8, 1.25], 100% of generated answers parsed")


def settings(quick: bool, n_fresh: int | None, n_train: int | None = None) -> dict[str, Any]:
    if quick:
        return {"n_train": n_train or 577, "n_fresh": n_fresh or 200, "iters": 16, "eval_every": 8, "monitor": 40,
                "generate": 8, "resamples": 500}
    return {"n_train": n_train or 577, "n_fresh": n_fresh or 2000, "iters": None, "eval_every": None,
            "monitor": 200, "generate": 100, "resamples": 2000}


# ---------------------------------------------------------------- statistics


def expected_auroc(score: np.ndarray, truth: np.ndarray) -> float:
    """sum_{i != j} p_i (1 - p_j) H(s_i - s_j) / sum_{i != j} p_i (1 - p_j), ties counted half:
    the AUROC of ``score`` expected over the outcome draws given the true probabilities."""
    s, a = np.asarray(score, float), np.asarray(truth, float)
    b = 1.0 - a
    order = np.argsort(s, kind="stable")
    s, a, b = s[order], a[order], b[order]
    _, start, counts = np.unique(s, return_index=True, return_counts=True)
    group_a = np.add.reduceat(a, start)
    group_b = np.add.reduceat(b, start)
    above = np.cumsum(group_a[::-1])[::-1] - group_a  # positive weight strictly above each group
    num = np.sum(group_b * (above + 0.5 * group_a)) - 0.5 * np.sum(a * b)
    den = a.sum() * b.sum() - np.sum(a * b)
    return float(num / den)


def summarise(p: np.ndarray, labels: np.ndarray, truth: np.ndarray, weights: np.ndarray) -> dict[str, Any]:
    from clinpred.core.evaluation.calibration import calibration_slope
    from clinpred.core.evaluation.metric_kernels import weighted_auroc

    one = np.ones((1, len(labels)))
    auroc = float(weighted_auroc(labels, p, one)[0])
    ceiling = float(weighted_auroc(labels, truth, one)[0])
    boot, boot_c = weighted_auroc(labels, p, weights), weighted_auroc(labels, truth, weights)
    ci = lambda x: [float(np.quantile(x, 0.025)), float(np.quantile(x, 0.975))]  # noqa: E731
    slope = calibration_slope(labels, p, np.vstack([one, weights[:200]]))
    return {"auroc": auroc, "auroc_ci": ci(boot), "gap": ceiling - auroc, "gap_ci": ci(boot_c - boot),
            "ceiling": ceiling, "expected_auroc": expected_auroc(p, truth),
            "expected_ceiling": expected_auroc(truth, truth),
            "calibration_slope": float(slope[0]), "calibration_slope_ci": ci(slope[1:][np.isfinite(slope[1:])]),
            "p_spread": [float(np.quantile(p, 0.05)), float(np.quantile(p, 0.95))], "p_sd": float(np.std(p)),
            "_boot": boot}


# ---------------------------------------------------------------- data and model


class Bench:
    """The data of one design, the registry and the default model; arms are methods."""

    def __init__(self, design: str, s: dict[str, Any], work: Path | None = None) -> None:
        import pandas as pd

        from clinpred.core.data.dataset import load_bytes
        from clinpred.core.data.schema import default_schema
        from clinpred.core.data.synthetic import ID_COLUMN, cohort_csv, generate_cohort
        from clinpred.core.evaluation.metrics import bootstrap_weights
        from clinpred.registry.registry import load_registry

        self.design, self.s, self.work = design, s, work
        train, p_train = generate_cohort(n=s["n_train"], seed=1, design_name=design)
        fresh, p_fresh = generate_cohort(n=s["n_fresh"], seed=2, design_name=design)
        fresh[ID_COLUMN] = [f"F{i + 1:05d}" for i in range(len(fresh))]
        frame = pd.concat([train, fresh], ignore_index=True)
        self.dataset = load_bytes(cohort_csv(frame), default_schema(), name="arms cohort",
                                  source=f"synthetic ({design}): {s['n_train']} (seed 1) + {s['n_fresh']} fresh (seed 2)")
        self.labels = self.dataset.labels
        self.truth = np.concatenate([p_train, p_fresh])
        self.records = self.dataset.records()
        self.pool = np.arange(s["n_train"])
        self.fresh = np.arange(s["n_train"], s["n_train"] + s["n_fresh"])
        self.split = self.split_of(s["n_train"])
        self.weights = bootstrap_weights(self.labels[self.fresh], s["resamples"], seed=0)
        self.registry = load_registry()
        self.family = self.registry.family("smollm")
        self.model_dir = common.default_model_dir()

    def split_of(self, size: int) -> Any:
        """A stratified subset of ``size`` training-cohort patients: 90% training, 10% validation."""
        from sklearn.model_selection import train_test_split

        from clinpred.core.data.splits import Split

        pool, y = self.pool, self.labels
        chosen = pool if size >= len(pool) else train_test_split(pool, train_size=size, stratify=y[pool], random_state=0)[0]
        n_val = max(4, int(round(0.1 * len(chosen))))
        train, val = train_test_split(chosen, test_size=n_val, stratify=y[chosen], random_state=0)
        return Split(f"n{size}", 0, 0, np.sort(train), np.sort(val), self.fresh)

    def load(self) -> Any:
        from clinpred.core.weights.loading import load_model

        return load_model(self.model_dir)

    def book(self, tokenizer: Any, style: str | None = None) -> Any:
        import attrs

        from clinpred.core.llm.llm_unit import PromptBook

        task = self.dataset.schema.task
        if style is not None:
            task = attrs.evolve(task, style=style)
        return PromptBook(self.registry, self.family, tokenizer, task, self.records)

    def generate(self, model: Any, tokenizer: Any, prompts: list[str], stop: tuple[str, ...]) -> dict[str, Any]:
        from clinpred.core.llm.scoring import generate_texts

        task = self.dataset.schema.task
        texts = generate_texts(model, tokenizer, prompts, max_tokens=12, stop=stop, batch_size=8)
        parsed = [self.registry.parse_output(self.family, t, task) for t in texts]
        ok = [p.status.value == "ok" for p in parsed]
        return {"n": len(texts), "parsed": int(sum(ok)), "parse_rate": float(np.mean(ok)) if ok else None,
                "examples": sorted(set(texts))[:6], "clean": int(sum(t.strip() in (task.positive, task.negative) for t in texts))}

    # ------------------------------------------------------------ arms

    def baseline(self, name: str, split: Any) -> dict[str, Any]:
        """The engine's baseline fitted on the training part as it is (no balancing)."""
        tic = time.perf_counter()
        try:  # the baselines' unit before the model adapters (issue 21)
            from clinpred.core.evaluation.baseline_unit import run_baseline_unit
        except ImportError:  # the model adapter's own fit and predict
            from clinpred.core.models.tabular import predict_yes

            adapter = self.registry.model_adapter(name)
            frame = self.dataset.feature_frame()
            categorical = [f.name for f in self.dataset.schema.features if f.kind in ("categorical", "binary")]
            rows = lambda idx: frame.iloc[idx].reset_index(drop=True)  # noqa: E731
            pipe = adapter.fit(rows(split.train), self.labels[split.train], categorical, adapter.params(), seed=0)
            p_val, p_test = (predict_yes(pipe, rows(idx), categorical) for idx in (split.val, split.test))
        else:
            unit = run_baseline_unit(name, self.dataset, split, np.asarray(split.train), seed=0,
                                     threshold_method="youden", fixed_threshold=0.5, class_weight=None)
            p_val, p_test = unit["val"]["p"], unit["test"]["p"]
        return {"p_val": list(map(float, p_val)), "p_fresh": list(map(float, p_test)),
                "seconds": {"total": round(time.perf_counter() - tic, 1)}}

    def features(self, style: str | None = None) -> dict[str, Any]:
        """Last-token states and zero-shot P(yes) of every patient (cached per style).

        The engine's ``last_token_features`` computes them. For the default style, the validation
        and fresh patients go through one pass that also keeps the frozen model's states entering
        the first block that LoRA (on the plugin's top ``lora_layers`` blocks) changes, so every
        such LoRA arm is scored by running its top blocks only (:meth:`top_blocks_p_yes`); that
        pass is checked against ``last_token_features`` and ``score_p_yes`` on a few patients.
        """
        from clinpred.core.llm.features import last_token_features

        key = f"features-{style or 'list'}"
        if key not in self.__dict__ and self.work is not None:
            self._load_features(key)
        if key not in self.__dict__:
            loaded = self.load()
            model, tok = loaded.model, loaded.tokenizer
            book = self.book(tok, style)
            task = book.task
            tic = time.perf_counter()
            states = np.zeros((len(self.labels), model.args.hidden_size), np.float32)
            p_yes = np.zeros(len(self.labels))
            first = self.split.train if style is None else np.concatenate([self.pool, self.fresh])
            out = last_token_features(model, tok, [book.scoring_prompt(int(i)) for i in first], positive=task.positive,
                                      negative=task.negative, batch_size=8, on_progress=_progress("features"))
            states[first], p_yes[first] = out.states, out.p_yes
            if style is None:
                start = len(model.layers) - int(self.family.hyperparameters.get("lora_layers", 8))
                self.trunk = self.entering_states(model, tok, book, start, states, p_yes)
            seconds = time.perf_counter() - tic
            self.__dict__[key] = {"states": states, "p_yes": p_yes, "seconds": seconds,
                                  "per_patient": seconds / (len(self.pool) + len(self.fresh))}
            self._save_features(key)
        return self.__dict__[key]

    def _features_file(self, key: str) -> Path:
        spec = {"design": self.design, "settings": self.s, "key": key, "model": str(self.model_dir), "version": 1}
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return self.work / f"{key}-{digest}.pkl"

    def _save_features(self, key: str) -> None:
        """Keep the forward passes (tens of minutes at full size) so a restarted run reuses them."""
        if self.work is None:
            return
        path = self._features_file(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            pickle.dump({"features": self.__dict__[key], "trunk": getattr(self, "trunk", None)}, fh, protocol=5)
        tmp.replace(path)

    def _load_features(self, key: str) -> None:
        path = self._features_file(key)
        if not path.is_file():
            return
        with path.open("rb") as fh:  # the bench's own cache file, written above
            data = pickle.load(fh)
        self.__dict__[key] = data["features"]
        if data["trunk"] is not None:
            self.trunk = data["trunk"]

    def entering_states(self, model: Any, tok: Any, book: Any, start: int, states: np.ndarray,
                        p_yes: np.ndarray) -> dict[str, Any]:
        """For the validation and fresh patients: token ids and the frozen model's states entering
        block ``start`` (kept, float16), and (written into ``states`` / ``p_yes``) the last-token
        final-norm state and the zero-shot P(yes), from the blocks above ``start``."""
        import mlx.core as mx

        from clinpred.core.llm.features import last_token_features
        from clinpred.core.llm.scoring import label_id_sets, p_yes_from_logprobs, right_pad
        from clinpred.core.llm.tokens import encode
        from clinpred.core.weights import mlx_compat

        task = book.task
        idx = np.concatenate([self.split.val, self.fresh])
        prompts = {int(i): book.scoring_prompt(int(i)) for i in idx}
        ids = {i: encode(tok, p) for i, p in prompts.items()}
        tail = next(iter(prompts.values()))[-256:]
        pos, neg = label_id_sets(tok, tail, task.positive, task.negative)
        order = sorted(ids, key=lambda i: len(ids[i]))
        kept: dict[int, np.ndarray] = {}
        bar = _progress(f"features + states entering block {start}")
        model.eval()
        for k in range(0, len(order), 8):
            batch = order[k:k + 8]
            rows = [ids[i] for i in batch]
            tokens = mx.array(right_pad(rows))
            hidden = mlx_compat.hidden_entering(model, tokens, start)
            with mlx_compat.blocks_fed(model, start, hidden):
                final = model.model(tokens)
            last = final[mx.arange(len(batch)), mx.array([len(r) - 1 for r in rows])]
            logits = mlx_compat.head_logits(model, last).astype(mx.float32)
            logprobs = np.array(logits - mx.logsumexp(logits, axis=-1, keepdims=True), dtype=np.float64)
            block, low = np.array(last.astype(mx.float32)), np.array(hidden.astype(mx.float16))
            for r, i in enumerate(batch):
                kept[i] = low[r, : len(rows[r])]
                states[i] = block[r]
                p_yes[i] = p_yes_from_logprobs(logprobs[r:r + 1], pos, neg)[0]
            bar(min(k + 8, len(order)), len(order))
        sample = [int(i) for i in idx[:8]]
        ref = last_token_features(model, tok, [prompts[i] for i in sample], positive=task.positive,
                                  negative=task.negative)
        diff = max(float(np.max(np.abs(ref.states - states[sample]))), float(np.max(np.abs(ref.p_yes - p_yes[sample]))))
        if not diff < 1e-3:
            raise RuntimeError(f"the one-pass features differ from last_token_features by {diff:.2g}")
        return {"start": start, "ids": ids, "states": kept, "prompt_tail": tail, "check_max_diff": diff}

    def top_blocks_p_yes(self, model: Any, tok: Any, idx: np.ndarray, lora_layers: int,
                         head: Any = None) -> np.ndarray | None:
        """P(yes) of patients ``idx`` from the stored states entering the first LoRA block (None
        when the arm's LoRA starts elsewhere): exactly ``score_p_yes`` (with ``head``:
        ``head_p_yes``) for a model whose lower blocks are the frozen ones."""
        import mlx.core as mx

        from clinpred.core.llm.scoring import label_id_sets, p_yes_from_logprobs, right_pad
        from clinpred.core.weights import mlx_compat

        trunk = getattr(self, "trunk", None)
        if trunk is None or trunk["start"] != len(model.layers) - lora_layers:
            return None
        task = self.dataset.schema.task
        pos, neg = label_id_sets(tok, trunk["prompt_tail"], task.positive, task.negative)
        order = sorted((int(i) for i in idx), key=lambda i: len(trunk["ids"][i]))
        out: dict[int, float] = {}
        model.eval()
        for k in range(0, len(order), 8):
            batch = order[k:k + 8]
            rows = [trunk["ids"][i] for i in batch]
            width = max(len(r) for r in rows)
            hidden = np.zeros((len(batch), width, trunk["states"][batch[0]].shape[1]), np.float32)
            for r, i in enumerate(batch):
                hidden[r, : len(rows[r])] = trunk["states"][i]
            flat = mx.array([r * width + len(row) - 1 for r, row in enumerate(rows)], dtype=mx.int32)
            if head is not None:
                _, picked = mlx_compat.logits_and_states_at(model, mx.array(right_pad(rows)), flat,
                                                            hidden=mx.array(hidden), start=trunk["start"])
                z = np.array(head(picked), dtype=np.float64)
                for r, i in enumerate(batch):
                    out[i] = float(1.0 / (1.0 + np.exp(-z[r])))
                continue
            logits = mlx_compat.logits_at(model, mx.array(right_pad(rows)), flat, hidden=mx.array(hidden),
                                          start=trunk["start"]).astype(mx.float32)
            logprobs = np.array(logits - mx.logsumexp(logits, axis=-1, keepdims=True), dtype=np.float64)
            for r, i in enumerate(batch):
                out[i] = float(p_yes_from_logprobs(logprobs[r:r + 1], pos, neg)[0])
        return np.array([out[int(i)] for i in idx])

    def probe(self, split: Any, style: str | None = None) -> dict[str, Any]:
        from clinpred.core.llm.probe import fit_probe

        f = self.features(style)
        tic = time.perf_counter()
        fit = fit_probe(f["states"][split.train], self.labels[split.train], seed=0)
        fit_s = time.perf_counter() - tic
        n_scored = len(split.train) + len(split.val) + len(split.test)
        return {"p_val": fit.p_yes(f["states"][split.val]).tolist(), "p_fresh": fit.p_yes(f["states"][split.test]).tolist(),
                "probe": {"c": fit.c, "cv_log_loss": list(fit.cv_log_loss)},
                "seconds": {"features": round(f["per_patient"] * n_scored, 1), "fit": round(fit_s, 1),
                            "total": round(f["per_patient"] * n_scored + fit_s, 1)}}

    def zero_shot(self, split: Any) -> dict[str, Any]:
        f = self.features()
        loaded = self.load()
        book = self.book(loaded.tokenizer)
        gen = self.generate(loaded.model, loaded.tokenizer, [book.scoring_prompt(int(i)) for i in split.test[: self.s["generate"]]],
                            tuple(book.rendered(int(split.test[0]), True).stop))
        n = len(split.val) + len(split.test)
        return {"p_val": f["p_yes"][split.val].tolist(), "p_fresh": f["p_yes"][split.test].tolist(), "generated": gen,
                "seconds": {"total": round(f["per_patient"] * n, 1)}}

    def few_shot(self, split: Any, shots: int) -> dict[str, Any]:
        from clinpred.core.llm.few_shot import draw_shots, few_shot_prompts
        from clinpred.core.llm.scoring import score_p_yes

        loaded = self.load()
        book = self.book(loaded.tokenizer)
        tic = time.perf_counter()
        chosen = draw_shots(self.labels, split.train, shots, seed=0)
        parts = np.concatenate([split.val, split.test])
        prompts = few_shot_prompts(book, chosen, parts, self.labels, model=loaded.model)
        task = book.task
        p = score_p_yes(loaded.model, loaded.tokenizer, prompts, task.positive, task.negative, batch_size=8,
                        on_progress=_progress(f"few-shot-{shots}"))
        score_s = time.perf_counter() - tic
        stop = tuple(book.rendered(int(split.test[0]), True).stop)
        gen = self.generate(loaded.model, loaded.tokenizer, prompts[len(split.val):len(split.val) + self.s["generate"]], stop)
        return {"p_val": p[: len(split.val)].tolist(), "p_fresh": p[len(split.val):].tolist(), "generated": gen,
                "shots": [int(i) for i in chosen], "prompt_tokens": _tokens(loaded.tokenizer, prompts[0]),
                "seconds": {"total": round(score_s, 1)}}

    def lora(self, split: Any, overrides: dict[str, Any], work: Path) -> dict[str, Any]:
        from clinpred.core.llm.scoring import score_p_yes
        from clinpred.core.llm.training import TrainConfig, TrainItem, train_lora

        loaded = self.load()
        model, tok = loaded.model, loaded.tokenizer
        book = self.book(tok)
        task = book.task
        overrides = dict(overrides)
        head = None
        if overrides.pop("head", None) == "probe":  # LP-FT: the probe of the frozen features is the start
            from clinpred.core.llm.label_head import head_from_probe
            from clinpred.core.llm.probe import fit_probe

            f = self.features()
            head = head_from_probe(fit_probe(f["states"][split.train], self.labels[split.train], seed=0))
        hyper = {**self.family.hyperparameters, **overrides}
        if "epochs" in overrides:
            hyper.pop("num_iters", None)
        if self.s["iters"]:
            hyper = {k: v for k, v in hyper.items() if k != "epochs"} | {"num_iters": self.s["iters"]}
        if self.s["eval_every"]:
            hyper["eval_every"] = self.s["eval_every"]  # else the engine's default: once per epoch
        hyper["lora_layers"] = min(int(hyper.get("lora_layers", 8)), len(model.layers))
        cfg = TrainConfig(seed=0, **{TRAIN_FIELDS[k]: v for k, v in hyper.items() if k in TRAIN_FIELDS})
        items = lambda idx: [TrainItem(book.example(int(i), bool(self.labels[i])), int(self.labels[i]), 1.0)  # noqa: E731
                             for i in idx]
        train_items, val_items = items(split.train), items(split.val)
        monitor_idx = split.test[: self.s["monitor"]]
        monitor: list[dict[str, Any]] = []
        clock = {"monitor": 0.0}
        bar = _progress("train")
        self.features()  # the frozen model's states for the top-blocks scoring path
        layers = int(hyper.get("lora_layers", 8))

        def p_yes_of(idx: np.ndarray) -> np.ndarray:
            # a label head reads the final state through weights up to 1/scale of the probe's features, which
            # magnifies the float16 rounding of the stored trunk states (0.01 in P(yes) on `numeric`): the
            # engine's own float32 pass scores head arms
            fast = self.top_blocks_p_yes(model, tok, idx, layers, head) if split is self.split and head is None else None
            if fast is not None:
                return fast
            return engine_p_yes([book.scoring_prompt(int(i)) for i in idx])

        def engine_p_yes(prompts: list[str]) -> np.ndarray:
            if head is not None:
                from clinpred.core.llm.label_head import head_p_yes

                return head_p_yes(model, tok, prompts, head)
            return score_p_yes(model, tok, prompts, task.positive, task.negative, batch_size=8)

        def on_progress(event: Any) -> None:
            bar(event.step, event.total)
            if event.val_loss is None:
                return
            tic = time.perf_counter()
            p = p_yes_of(monitor_idx)
            monitor.append({"step": event.step, "expected_auroc": expected_auroc(p, self.truth[monitor_idx])})
            clock["monitor"] += time.perf_counter() - tic

        tic = time.perf_counter()
        result = train_lora(model, tok, train_items, val_items, cfg, work / "adapter", on_progress=on_progress,
                            positive=task.positive, negative=task.negative, head=head)
        train_s = time.perf_counter() - tic - clock["monitor"]
        rules = _selection(result.evaluations, monitor)
        tic = time.perf_counter()
        val_prompts = [book.scoring_prompt(int(i)) for i in split.val]
        fresh_prompts = [book.scoring_prompt(int(i)) for i in split.test]
        p_val = engine_p_yes(val_prompts)
        p_fresh = p_yes_of(split.test)
        check = float(np.max(np.abs(p_yes_of(split.val) - p_val)))
        if check > 1e-3:
            raise RuntimeError(f"the top-blocks scoring differs from score_p_yes by {check:.2g}")
        score_s = time.perf_counter() - tic
        stop = tuple(book.rendered(int(split.test[0]), True).stop)
        gen = self.generate(model, tok, fresh_prompts[: self.s["generate"]], stop)
        return {"p_val": p_val.tolist(), "p_fresh": p_fresh.tolist(), "generated": gen,
                "training": {"hyperparameters": hyper, "steps": result.steps_done, "best_step": result.best_step,
                             "select_metric": result.select_metric, "evaluations": list(result.evaluations),
                             "train_losses": list(result.train_losses), "monitor": monitor, "selection": rules,
                             "notes": list(result.notes), "scoring_check_max_diff": check},
                "seconds": {"train": round(train_s, 1), "monitor": round(clock["monitor"], 1),
                            "score": round(score_s, 1), "total": round(train_s + score_s, 1)}}


def _selection(evaluations: Any, monitor: list[dict[str, Any]]) -> dict[str, Any]:
    """For each rule, the step it keeps and that checkpoint's expected AUROC on the monitor patients."""
    truth = {m["step"]: m["expected_auroc"] for m in monitor}
    evals = [e for e in evaluations if e["step"] in truth]
    if not evals:
        return {}
    picks = {
        "auroc": max(evals, key=lambda e: (e["val_auroc"] if e["val_auroc"] is not None else -1, -e["val_loss"]))["step"],
        "loss": min(evals, key=lambda e: e["val_loss"])["step"],
        "log_loss": min(evals, key=lambda e: e["val_log_loss"] if e.get("val_log_loss") is not None else np.inf)["step"],
        "last": evals[-1]["step"],
        "oracle": max(evals, key=lambda e: truth[e["step"]])["step"],
    }
    return {rule: {"step": step, "expected_auroc": truth[step]} for rule, step in picks.items()}


def _tokens(tokenizer: Any, prompt: str) -> int:
    from clinpred.core.llm.tokens import encode

    return len(encode(tokenizer, prompt))


def _progress(what: str) -> Callable[[int, int], None]:
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 60 or done == total:
            last[0] = now
            print(f"    {what}: {done}/{total}", file=sys.stderr, flush=True)

    return report


# ---------------------------------------------------------------- running arms


def run_arm(bench: Bench, name: str, work: Path) -> dict[str, Any]:
    kind, extra = ARMS[name]
    split = bench.split
    if kind == "baseline":
        return bench.baseline(name, split)
    if kind == "probe":
        return bench.probe(split, extra.get("style"))
    if kind == "zero-shot":
        return bench.zero_shot(split)
    if kind == "few-shot":
        return bench.few_shot(split, extra["shots"])
    return bench.lora(split, extra, work / name)


def curve_point(bench: Bench, name: str, size: int) -> dict[str, Any]:
    kind, extra = ARMS[name]
    split = bench.split_of(size)
    if kind == "baseline":
        return bench.baseline(name, split)
    if kind == "probe":
        return bench.probe(split, extra.get("style"))
    if kind == "zero-shot":  # no training: the same scores at every size
        f = bench.features()
        return {"p_val": f["p_yes"][split.val].tolist(), "p_fresh": f["p_yes"][split.test].tolist(),
                "seconds": {"total": 0.0}}
    raise SystemExit(f"the learning curve runs baselines, probe and zero-shot arms only (got {name})")


def fingerprint(design: str, s: dict[str, Any], name: str) -> str:
    spec = {"design": design, "settings": s, "arm": ARMS[name], "version": 1}
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cached(path: Path, key: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    if path.is_file():
        data = json.loads(path.read_text())
        if data.get("fingerprint") == key:
            return data
    tic = time.perf_counter()
    data = compute()
    data["fingerprint"] = key
    data["wall_seconds"] = round(time.perf_counter() - tic, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)
    return data


def _row(name: str, r: dict[str, Any]) -> str:
    gen = r.get("generated")
    parse = f"{gen['parse_rate']:.0%}" if gen and gen.get("parse_rate") is not None else "-"
    return (f"{name:<26} {r['auroc']:.3f} [{r['auroc_ci'][0]:.3f}, {r['auroc_ci'][1]:.3f}]  {r['gap']:+.3f} "
            f"[{r['gap_ci'][0]:+.3f}, {r['gap_ci'][1]:+.3f}]  {r['expected_auroc']:.3f}  {r['calibration_slope']:5.2f}  "
            f"{r['p_spread'][0]:.2f}-{r['p_spread'][1]:.2f}  {parse:>5}  {r['seconds']['total']:7.0f}")


HEADER = (f"{'arm':<26} {'AUROC [95% CI]':<21} {'gap to ceiling [CI]':<23} {'E-AUROC':<7} {'slope':>5}  "
          f"{'P(yes) 5-95%':<12} {'parse':>5}  {'seconds':>7}")


def plot(report: dict[str, Any], path: Path) -> None:
    """Per design: each arm's AUROC with its CI against the Bayes ceiling, and the learning curves."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    designs = list(report["designs"].items())
    fig = Figure(figsize=(11, 3.8 * len(designs)), dpi=100)
    FigureCanvasAgg(fig)
    for row, (design, d) in enumerate(designs):
        ax = fig.add_subplot(len(designs), 2, 2 * row + 1)
        names = list(d["arms"])
        values = [d["arms"][n]["auroc"] for n in names]
        err = [[v - d["arms"][n]["auroc_ci"][0] for n, v in zip(names, values)],
               [d["arms"][n]["auroc_ci"][1] - v for n, v in zip(names, values)]]
        ax.errorbar(values, range(len(names)), xerr=err, fmt="o", color="C0")
        ax.axvline(d["ceiling"], color="black", linestyle="--", label="Bayes ceiling")
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("AUROC on the fresh sample")
        ax.set_title(f"design {design}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax = fig.add_subplot(len(designs), 2, 2 * row + 2)
        for k, (name, points) in enumerate(d["learning_curve"].items()):
            sizes = sorted(int(x) for x in points)
            ax.plot(sizes, [points[str(x)]["auroc"] for x in sizes], marker="o", color=f"C{k}", label=name)
            ax.fill_between(sizes, [points[str(x)]["auroc_ci"][0] for x in sizes],
                            [points[str(x)]["auroc_ci"][1] for x in sizes], color=f"C{k}", alpha=0.15)
        ax.axhline(d["ceiling"], color="black", linestyle="--")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("training patients (90% training, 10% validation)")
        ax.set_ylabel("AUROC on the fresh sample")
        ax.grid(alpha=0.3)
        if d["learning_curve"]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run: 200 fresh patients, 16 LoRA steps")
    parser.add_argument("--design", default="both", choices=("release", "numeric", "both"))
    parser.add_argument("--arms", help="comma-separated arms (default: the standard set; --list shows all)")
    parser.add_argument("--curve", default="lasso,gradient_boosting,probe,zero-shot",
                        help="arms of the learning curve (baselines, probes, zero-shot; '' for none)")
    parser.add_argument("--n-fresh", type=int, help="fresh patients (default 2000, --quick 200)")
    parser.add_argument("--n-train", type=int, help="training cohort (default 577; smaller only to check the script)")
    parser.add_argument("--work", type=Path, default=HERE / "results" / "arms-work")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--list", action="store_true", help="print the arms and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, (kind, extra) in ARMS.items():
            print(f"{name:<28} {kind:<10} {extra}")
        return 0
    arms = args.arms.split(",") if args.arms else list(QUICK_ARMS if args.quick else DEFAULT_ARMS)
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arms {unknown}; --list shows them")
    info = common.start()
    s = settings(args.quick, args.n_fresh, args.n_train)
    designs = ("release", "numeric") if args.design == "both" else (args.design,)
    wall = time.perf_counter()
    report: dict[str, Any] = {"quick": args.quick, "settings": s, "model": common.DEFAULT_MODEL, **info,
                              "goal": GOAL, "designs": {}}
    for design in designs:
        tag = f"{design}-n{s['n_fresh']}" + ("-quick" if args.quick else "")
        bench = Bench(design, s, args.work / tag)
        labels, truth = bench.labels[bench.fresh], bench.truth[bench.fresh]
        rows: dict[str, Any] = {}
        print(f"\n== design {design}: {len(bench.split.train)} training / {len(bench.split.val)} validation patients, "
              f"{s['n_fresh']} fresh", flush=True)
        for name in arms:
            print(f"  {name} ...", file=sys.stderr, flush=True)
            data = cached(args.work / tag / f"{name}.json", fingerprint(design, s, name),
                          lambda name=name: run_arm(bench, name, args.work / tag))
            stats = summarise(np.asarray(data["p_fresh"]), labels, truth, bench.weights)
            rows[name] = {**stats, **{k: v for k, v in data.items() if k not in ("p_val", "p_fresh", "fingerprint")}}
        boots = {name: r.pop("_boot") for name, r in rows.items()}
        if "probe" in boots:
            for name, r in rows.items():
                diff = boots[name] - boots["probe"]
                r["vs_probe"] = [float(np.quantile(diff, 0.025)), float(np.quantile(diff, 0.975))]
        curve: dict[str, dict[str, Any]] = {}
        for name in [c for c in args.curve.split(",") if c]:
            curve[name] = {}
            for size in CURVE_SIZES:
                data = cached(args.work / tag / f"curve-{name}-{size}.json", fingerprint(design, s, name) + f"-{size}",
                              lambda name=name, size=size: curve_point(bench, name, size))
                stats = summarise(np.asarray(data["p_fresh"]), labels, truth, bench.weights)
                stats.pop("_boot")
                curve[name][str(size)] = stats
        ceiling = rows[arms[0]]
        print(f"Bayes ceiling {ceiling['ceiling']:.3f} (expected {ceiling['expected_ceiling']:.3f})")
        print(HEADER)
        for name, r in rows.items():
            print(_row(name, r))
        for name, points in curve.items():
            print(f"  curve {name:<20} " + "  ".join(f"n={k}: {v['auroc']:.3f}" for k, v in points.items()))
        for name, r in rows.items():
            rules = r.get("training", {}).get("selection")
            if rules:
                print(f"  selection {name:<24} " + "  ".join(
                    f"{rule}: step {v['step']} E-AUROC {v['expected_auroc']:.3f}" for rule, v in rules.items()))
        report["designs"][design] = {"ceiling": ceiling["ceiling"], "expected_ceiling": ceiling["expected_ceiling"],
                                     "arms": rows, "learning_curve": curve}
    report["seconds"] = round(time.perf_counter() - wall, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = args.out / f"arms-{stamp}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(report, indent=1, default=float))
    plot(report, path.with_suffix(".png"))
    print(f"wrote {path} and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
