"""The time budget of a whole tuned training run (``train --tune --tune-budget MINUTES``).

A tuned run is a sequence of units (one task × one family); each tuned unit runs one
hyper-parameter search per outer fold and one on all development patients
(``crlm.models.tuning``). The run's budget is one number of seconds for everything:
loading the cohort, every search, every refit, the out-of-fold and external
predictions and the registration. ``RunBudget`` splits it across the searches:

* Up front, every search planned (units × searches per unit) gets an equal share of
  the time left after a reserve for the work outside the searches.
* Each time a search starts, its share is recomputed from what is left: the time a
  search did not use (a fast family, a search stopped by its trial cap) flows to the
  searches still to come, and the searches of a unit that was skipped are dropped.
* The reserve for the work outside the searches is measured as the run goes (the
  seconds outside searches per search finished so far, times the searches still to
  come); before the first search finishes it is ``PRIOR_RESERVE`` of the budget.

Inside its share a search starts a trial only when the trial is expected (from the
longest trial so far) to finish within the share; the untuned defaults are always
scored first, and a search whose share is spent keeps the untuned defaults without
scoring them. The run therefore ends within the budget unless a single trial, refit
or prediction takes far longer than the ones before it.

The clock is injectable (``clock``), so the split can be tested without waiting.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

PRIOR_RESERVE = 0.25  # share of the budget kept for refits and predictions at first
DEFAULT_BUDGET_MIN = 30.0


@dataclass(frozen=True)
class SearchRecord:
    """One search of a unit: the seconds it was given and used, and its trials."""

    allotted_s: float
    used_s: float
    trials: int

    def __str__(self) -> str:
        return f"{self.used_s:.1f} of {self.allotted_s:.1f} s, {self.trials} trials"


class RunBudget:
    """The seconds of one run, split across its searches (see the module docstring).
    Not thread-safe: a run trains its units one after the other."""

    def __init__(self, seconds: float, clock=time.perf_counter):
        if not float(seconds) > 0:
            raise ValueError(f"the run's time budget must be positive, not {seconds}")
        self.seconds = float(seconds)
        self.clock = clock
        self.started = clock()
        self._planned: dict[str, int] = {}
        self._unit: str | None = None
        self._left_in_unit = 0
        self._search_start: float | None = None
        self._search_s = 0.0
        self._searches_done = 0
        self._share = 0.0
        self.records: dict[str, list[SearchRecord]] = {}

    # -- the plan -------------------------------------------------------------------
    def plan(self, units: dict[str, int]) -> None:
        """The units of the run and the number of searches each will run."""
        self._planned = {k: int(n) for k, n in units.items() if int(n) > 0}

    def searches_left(self) -> int:
        pending = sum(n for k, n in self._planned.items() if k != self._unit)
        return pending + self._left_in_unit

    def begin_unit(self, key: str) -> None:
        """The unit ``key`` starts (a unit not in the plan runs on what is left)."""
        self.end_unit()
        self._unit = key
        self._left_in_unit = self._planned.pop(key, 0)
        self.records.setdefault(key, [])

    def end_unit(self) -> None:
        """The current unit is over; its searches not run are dropped from the plan."""
        self._unit, self._left_in_unit = None, 0

    # -- the clock ------------------------------------------------------------------
    def elapsed(self) -> float:
        return self.clock() - self.started

    def remaining(self) -> float:
        return max(0.0, self.seconds - self.elapsed())

    def reserve(self) -> float:
        """Seconds kept for the work outside the searches still to come."""
        left = max(self.searches_left(), 1)
        if self._searches_done == 0:
            return PRIOR_RESERVE * self.remaining()
        outside = max(0.0, self.elapsed() - self._search_s)
        return min(self.remaining(), outside / self._searches_done * left)

    def start_search(self) -> float:
        """Begin a search of the current unit; returns its share in seconds (0: spent)."""
        left = max(self.searches_left(), 1)
        share = max(0.0, (self.remaining() - self.reserve()) / left)
        self._search_start = self.clock()
        self._share = share
        return share

    def end_search(self, trials: int) -> SearchRecord:
        """The search begun last is over, after ``trials`` trials."""
        used = self.clock() - (self._search_start if self._search_start is not None
                               else self.clock())
        self._search_start = None
        self._search_s += used
        self._searches_done += 1
        if self._left_in_unit > 0:
            self._left_in_unit -= 1
        record = SearchRecord(float(self._share), float(used), int(trials))
        self.records.setdefault(self._unit or "", []).append(record)
        return record

    def unit_records(self) -> tuple[SearchRecord, ...]:
        return tuple(self.records.get(self._unit or "", ()))

    def describe(self) -> str:
        return (f"{self.elapsed() / 60:.1f} of {self.seconds / 60:g} min")


_RUN: dict[str, RunBudget | None] = {"run": None}


def current() -> RunBudget | None:
    """The run budget of this process's training run (None: searches are only capped)."""
    return _RUN["run"]


def use_run_budget(run: RunBudget | None) -> None:
    _RUN["run"] = run
