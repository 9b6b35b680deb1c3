"""Treatment/group effect within subgroups (forest plot) and the interaction test.

Within each subgroup level the hazard ratio of ``group == 1`` vs ``group == 0``
comes from a Cox model with the group as the only covariate (Efron ties). The
interaction p-value is a likelihood-ratio test of
``group + subgroup + group x subgroup`` against ``group + subgroup`` on all
patients; interaction terms exist only for levels holding both groups (the
reference is the first such level), so ``interaction_df`` may be below
(levels - 1). ``converged`` is False for a level whose Cox fit did not converge
(monotone likelihood: the events of one group all come before any of the other's);
its hazard ratio is then only "very large or very small", as R's coxph warns.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._dist import chi2_sf
from ._kernels import _jit
from ._validate import as_event, as_levels, as_time, prepare
from ._result import ResultMixin, wald_terms
from .cox import CoxTerm
from .cox_cells import (
    EventIndex, EventTimeRanks, cell_counts, event_index, event_index_within, fit_cells,
)


@dataclass(frozen=True)
class SubgroupEffect(ResultMixin):
    level: object
    n: int
    events: int
    hr: float
    ci_lower: float
    ci_upper: float
    p_value: float
    estimable: bool
    reason: str
    converged: bool = True  # False: monotone likelihood, the HR runs off (R warns likewise)


@dataclass(frozen=True)
class SubgroupResult(ResultMixin):
    subgroups: list[SubgroupEffect]
    interaction_statistic: float
    interaction_df: int
    interaction_p_value: float
    min_events: int


def monotone_likelihood(time, event, group) -> bool:
    """Whether a Cox model of ``group`` (one indicator per level) has a monotone partial
    likelihood, so that some hazard ratio is infinite or zero: a set S of levels, holding
    events, whose patients have all left before the first event outside S. R's ``coxph``
    warns "coefficient may be infinite" then; our fit returns a very large coefficient.

    A level without events next to levels with events is such a case (its HR is 0).
    Otherwise S can be taken as the levels whose last time is <= some level's last time
    c, so checking each c suffices (O(levels^2))."""
    a = prepare(False, time=time, event=event, group=group)
    t, e = as_time(a["time"]), as_event(a["event"])
    codes, levels = as_levels(a["group"], "group")
    return _monotone(*_last_and_first_event(t, e, codes, len(levels)))


def _last_and_first_event(t, e, codes, k):
    """Per level: the last time and the first event time (inf without events)."""
    return _level_extremes(np.asarray(t, dtype=float), np.asarray(e, dtype=np.bool_),
                           np.asarray(codes, dtype=np.int64), int(k))


@_jit
def _level_extremes(t, e, codes, k):  # pragma: no cover - compiled
    last = np.full(k, -np.inf)
    first_event = np.full(k, np.inf)
    for i in range(t.shape[0]):
        c = codes[i]
        if t[i] > last[c]:
            last[c] = t[i]
        if e[i] and t[i] < first_event[c]:
            first_event[c] = t[i]
    return last, first_event


def _monotone(last, first_event) -> bool:
    """``monotone_likelihood`` from each level's last time and first event time."""
    if len(last) < 2:
        return False
    has_events = np.isfinite(first_event)
    if has_events.any() and not has_events.all():
        return True
    for c in np.unique(last)[:-1]:
        inside = last <= c
        if np.isfinite(first_event[inside]).any() and c < first_event[~inside].min():
            return True
    return False


_GROUP = np.array([0.0, 1.0])   # a level's own model: the group's two cells


def _nan_effect(level, n, events, reason):
    nan = float("nan")
    return SubgroupEffect(level, n, events, nan, nan, nan, nan, False, reason)


def subgroup_effects(time, event, group, subgroup, min_events: int = 5, ties: str = "efron",
                     *, dropna: bool = False) -> SubgroupResult:
    """Per-level HR of group 1 vs 0 and the LR interaction p-value (see module doc).

    ``group`` must be 0/1 or boolean. Levels with fewer than ``min_events``
    events, a missing arm, or no event in one arm come back with
    ``estimable=False`` and the reason; they are never dropped.
    """
    a = prepare(dropna, time=time, event=event, group=group, subgroup=subgroup)
    t, e = as_time(a["time"]), as_event(a["event"])
    g = as_event(a["group"], "group").astype(np.int64)
    codes, levels = as_levels(a["subgroup"], "subgroup")
    return coded_subgroup_effects(event_index(t, e), t, e, g, codes, levels, min_events, ties)


def coded_subgroup_effects(index: EventIndex, t, e, g, codes, levels, min_events: int = 5,
                           ties: str = "efron") -> SubgroupResult:
    """``subgroup_effects`` of checked arrays: ``index`` = ``event_index(t, e)`` (one per
    endpoint, shared between subgroup variables), ``g`` 0/1, ``codes`` 0..len(levels)-1.

    Every Cox model here has a covariate row per (level, group) cell, so each is fitted
    on the cells' counts per event time (``crlm.stats.cox_cells``); the numbers are
    those of ``crlm.stats.cox`` on the patient rows."""
    k = len(levels)
    cells = np.asarray(codes, dtype=np.int64) * 2 + np.asarray(g, dtype=np.int64)
    counts = cell_counts(index, cells, 2 * k)
    last, first_event = _last_and_first_event(np.asarray(t, dtype=float), index.event, cells,
                                              2 * k)
    totals = counts.total.reshape(k, 2).astype(np.int64)
    dead = counts.deaths.sum(axis=0).reshape(k, 2).astype(np.int64)
    out: list[SubgroupEffect] = []
    both_arms = []
    for level_k, level in enumerate(levels):
        arms, ev_arm = totals[level_k], dead[level_k]
        n, d = int(arms.sum()), int(ev_arm.sum())
        if min(arms) == 0:
            missing = 0 if arms[0] == 0 else 1
            out.append(_nan_effect(level, n, d, f"no patients with group={missing}"))
            continue
        both_arms.append(level_k)
        if d < min_events:
            out.append(_nan_effect(level, n, d, f"fewer than {min_events} events ({d})"))
            continue
        if min(ev_arm) == 0:
            arm = 0 if ev_arm[0] == 0 else 1
            out.append(_nan_effect(level, n, d, f"no events with group={arm}: hazard ratio not finite"))
            continue
        pair = [2 * level_k, 2 * level_k + 1]
        fit = fit_cells(counts.cells(pair), _GROUP, ties)
        term = wald_terms(CoxTerm, ["x1"], fit.coefficients, fit.se, 0.95)[0]
        out.append(SubgroupEffect(level, n, d, term.hr, term.ci_lower, term.ci_upper,
                                  term.p_value, True, "",
                                  fit.converged and not _monotone(last[pair], first_event[pair])))
    stat, df, p = float("nan"), 0, float("nan")
    if len(both_arms) >= 2 and index.event.any():
        ref = both_arms[0]
        cell_g = np.tile([0.0, 1.0], k)
        cell_level = np.repeat(np.arange(k), 2)
        dummies = [(cell_level == j).astype(float) for j in range(k) if j != ref]
        inter = [cell_g * (cell_level == j) for j in both_arms[1:]]
        try:
            reduced = fit_cells(counts, np.column_stack([cell_g] + dummies), ties)
            full = fit_cells(counts, np.column_stack([cell_g] + dummies + inter), ties)
            df = len(inter)
            stat = max(2 * (full.log_likelihood - reduced.log_likelihood), 0.0)
            p = float(chi2_sf(stat, df))
        except (ValueError, np.linalg.LinAlgError):
            stat, df, p = float("nan"), 0, float("nan")
    return SubgroupResult(out, float(stat), int(df), p, int(min_events))


@dataclass(frozen=True, eq=False)
class SubgroupTimes:
    """Checked times and events of one endpoint with their event-time index, shared by
    every subgroup variable analysed on these patients (``subgroup_effects_by``)."""

    time: np.ndarray
    event: np.ndarray
    index: EventIndex


def subgroup_times(time, event, ranks: EventTimeRanks | None = None,
                   rows: np.ndarray | None = None) -> SubgroupTimes:
    """Checked ``time`` and ``event`` with their event-time index. With ``ranks`` (made by
    ``event_time_ranks`` on a whole set) and ``rows`` (these patients' places in that set:
    ``time`` is the set's ``time[rows]``) the index is counted from the set's ranks (the
    same index, without a search per patient)."""
    a = prepare(False, time=time, event=event)
    t, e = as_time(a["time"]), as_event(a["event"])
    if ranks is None:
        return SubgroupTimes(t, e, event_index(t, e))
    if rows is None or len(rows) != len(t):
        raise ValueError("subgroup_times: ranks need the rows of these patients in their set")
    return SubgroupTimes(t, e, event_index_within(ranks, rows, e))


def subgroup_effects_by(times: SubgroupTimes, group, groupings, min_events: int = 5,
                        ties: str = "efron") -> dict[str, SubgroupResult]:
    """``subgroup_effects`` for several subgroup variables of the same patients:
    ``groupings`` maps a name to ``(codes, levels)``, a level code (0..len(levels)-1)
    per patient; the results are keyed like ``groupings``."""
    g = as_event(np.asarray(group), "group").astype(np.int64)
    if len(g) != len(times.time):
        raise ValueError(f"group has {len(g)} values for {len(times.time)} patients")
    out = {}
    for name, (codes, levels) in groupings.items():
        codes = np.asarray(codes, dtype=np.int64)
        if len(codes) != len(g) or (len(codes) and (codes.min() < 0
                                                    or codes.max() >= len(levels))):
            raise ValueError(f"subgroup {name!r}: one level code per patient, "
                             f"0 to {len(levels) - 1}")
        out[name] = coded_subgroup_effects(times.index, times.time, times.event, g, codes,
                                           list(levels), min_events, ties)
    return out
