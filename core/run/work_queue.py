"""The units of a run as the executor takes them: in plan order, each one once it can start.

Most units can start at once. A unit with a nested search waits for its search: the
queue hands out that search's trials as trial units, a batch at a time (see
:class:`~clinpred.core.llm.search.SplitSearch`), and the LLM unit itself once every trial is
recorded, carrying the search's record (its chosen hyperparameters). The driver reports each
result back (:meth:`UnitQueue.trial_done`, :meth:`UnitQueue.fail`), so the searches of all
splits advance side by side on a parallel executor and one after another on ``local``.
"""

from __future__ import annotations

from typing import Any

from attrs import evolve

from clinpred.core.run.units import UnitSpec


class UnitQueue:
    """``take(n)``: up to ``n`` units ready to run; ``__len__``: an upper bound of the units
    still to hand out (trials not asked yet included)."""

    def __init__(self, specs: list[UnitSpec], searches: dict[str, Any] | None = None) -> None:
        self._waiting = list(specs)
        self._searches = dict(searches or {})  # unit name ("model/split") -> its SplitSearch
        self._trials: dict[str, list[UnitSpec]] = {}  # asked, not handed out yet
        self._dropped: set[str] = set()  # models (fatal) or units (failed search) not to run

    def __len__(self) -> int:
        return (len(self._waiting) + sum(len(t) for t in self._trials.values())
                + sum(s.pending() for s in self._searches.values()))

    def take(self, limit: int) -> list[UnitSpec]:
        out: list[UnitSpec] = []
        for spec in list(self._waiting):
            if len(out) >= limit:
                break
            if spec.name in self._dropped or spec.unit in self._dropped:
                self._waiting.remove(spec)
                self._trials.pop(spec.unit, None)
                continue
            search = self._searches.get(spec.unit)
            if search is None:
                out.append(spec)
                self._waiting.remove(spec)
                continue
            queued = self._trials.setdefault(spec.unit, [])
            queued.extend(self._trial_unit(spec, task) for task in search.ready())
            while queued and len(out) < limit:
                out.append(queued.pop(0))
            if search.done and not queued:
                out.append(evolve(spec, search=search.result()))
                self._waiting.remove(spec)
                del self._searches[spec.unit]
        return out

    def search_of(self, trial: UnitSpec) -> Any:
        return self._searches.get(trial.model_unit)

    def trial_done(self, trial: UnitSpec, record: dict[str, Any]) -> None:
        """A trial's record: saved in its search, which may now ask the next batch or choose."""
        search = self.search_of(trial)
        if search is not None:
            search.record(trial.trial.spec.number, record)

    def fail(self, unit: str) -> None:
        """The unit ``model/split`` will not run (its search failed)."""
        self._dropped.add(unit)
        self._searches.pop(unit, None)

    def drop_model(self, name: str) -> None:
        """No unit of model ``name`` runs any more (a failure every split would repeat)."""
        self._dropped.add(name)
        for unit in [u for u in self._searches if u.split("/", 1)[0] == name]:
            del self._searches[unit]

    @staticmethod
    def _trial_unit(spec: UnitSpec, task: Any) -> UnitSpec:
        return evolve(spec, fingerprint=task.spec.fingerprint(), trial=task, search=None, resume=False)
