"""The Subgroups page's Kaplan–Meier panels: curves by predicted response within each
level of one subgroup variable, with the log-rank p per level. They read what the forest
plot reads (``crlm.analysis.subgroup_effects``: the model's predictions over the cohort
and the variable's levels, once per data version) and are cached on the same arguments."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crlm import stats
from crlm.analysis.pages import PREDICTED, SUBGROUP_MIN_PATIENTS_KM
from crlm.analysis.snapshot import Snapshot, memo
from crlm.analysis.subgroup_effects import levels_of, scored, survival_rows


@dataclass(frozen=True, eq=False)
class KMPanels:
    """Kaplan–Meier curves by predicted response per level of one variable: ``panels``
    maps a level to ``{group: KM result}`` (None for a level with fewer than
    ``SUBGROUP_MIN_PATIENTS_KM`` patients, named with its n), ``logrank_p`` a level with
    both groups to its log-rank p."""

    column: str
    panels: dict
    logrank_p: dict

    def table(self) -> pd.DataFrame:
        """Per panel and group: n, events, median and the log-rank p (the export)."""
        return pd.DataFrame([
            {"panel": panel, "group": name, "n": km.n, "events": km.n_events,
             "median_months": km.median, "logrank_p": self.logrank_p.get(panel, np.nan)}
            for panel, curves in self.panels.items() if curves for name, km in curves.items()])

    def to_dict(self) -> dict:
        return {"column": self.column, "table": self.table().to_dict("records")}


@memo(maxsize=32)
def km_panels(snap: Snapshot, key: tuple, task: str, model_id: str, threshold: float,
              endpoint: str, column: str) -> KMPanels:
    """The curves of the one variable the page shows panels by."""
    rows, times = survival_rows(snap, key, task, model_id, endpoint)
    lv = levels_of(snap, key, task, model_id, endpoint, column)
    t_all, e_all = times.time, times.event
    score = scored(snap, task, model_id).score[rows]
    g_all = (score >= threshold).astype(np.int64)     # a code into PREDICTED
    panels, pvalues = {}, {}
    for level in lv.order:
        mask = lv.codes == lv.names.index(level)
        if mask.sum() < SUBGROUP_MIN_PATIENTS_KM:
            panels[f"{level} (n = {int(mask.sum())})"] = None
            continue
        t, e, g = t_all[mask], e_all[mask], g_all[mask]
        arms = [(name, g == code) for code, name in enumerate(PREDICTED)]
        panels[level] = {name: stats.kaplan_meier(t[arm], e[arm]) for name, arm in arms
                         if arm.any()}
        if len(panels[level]) == 2:
            pvalues[level] = stats.logrank(t, e, g).p_value
    return KMPanels(column, panels, pvalues)
