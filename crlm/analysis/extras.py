"""An imported cohort's own variables (the mapping's ``extra`` columns) on the pages.

Each extra variable is numeric or categorical, with the label, unit and level names the
mapping gave it (``crlm.ingest.import_extras``; stored in ``feature_info``). The pages
refer to one as ``extra:<name>`` so that it never clashes with a contract column. Here:

* :func:`load_extra_variables` — the cohort's extra variables, as frozen records;
* :func:`with_extra_values` — a patients frame with one column per extra variable,
  categorical ones as ordered categoricals of their level names;
* :func:`extra_groups` — a variable as groups for a split: a categorical one by its
  levels (in the mapping's order), a numeric one with two values (0/1) by its values,
  any other numeric one cut at its median (``≤ m`` / ``> m``, the median of the
  patients given; ``< m`` / ``≥ m`` when the median is the largest value); missing
  values are ``unknown``, last;
* :func:`table_one_variables` — Table 1 rows for the extra variables.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from crlm import store as st
from crlm.config import UNKNOWN_TIME
from crlm.store.extras import load_feature_set_names

EXTRA_FEATURE_SET = "extra"
PREFIX = "extra:"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class ExtraVariable:
    """One extra variable of a cohort."""

    name: str
    label: str
    unit: str = ""
    kind: str = "numeric"                  # 'numeric' or 'categorical'
    levels: tuple[str, ...] = ()
    known_at: str = UNKNOWN_TIME

    @property
    def key(self) -> str:
        """How pages name the variable (never a contract column name)."""
        return PREFIX + self.name

    @property
    def categorical(self) -> bool:
        return self.kind == "categorical"

    @property
    def title(self) -> str:
        """The label with its unit: ``Positive lymph nodes, nodes``."""
        return f"{self.label}, {self.unit}" if self.unit else self.label

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "unit": self.unit, "kind": self.kind,
                "levels": list(self.levels), "known_at": self.known_at}


@dataclass(frozen=True, eq=False)
class ExtraGroups:
    """A variable as groups: one level name per patient and the levels in order."""

    groups: np.ndarray
    order: tuple[str, ...]
    cut: float | None = None              # the median of a numeric variable


def is_extra(key: str | None) -> bool:
    return isinstance(key, str) and key.startswith(PREFIX)


def load_extra_variables(store, cohort: str) -> tuple[ExtraVariable, ...]:
    """The cohort's extra variables in the order of their names (feature set ``extra``);
    a stored feature without a ``feature_info`` row is numeric, labelled by its name."""
    info = st.load_feature_info(store, cohort)
    info = info[info["feature_set"] == EXTRA_FEATURE_SET].set_index("feature")
    stored = [str(f) for f in load_feature_set_names(store, cohort, EXTRA_FEATURE_SET)]
    out = []
    for name in sorted(set(stored) | set(info.index.astype(str))):
        if name not in info.index:
            out.append(ExtraVariable(name=name, label=name))
            continue
        row = info.loc[name]
        levels = tuple(str(v) for v in (row["levels"] or []))
        out.append(ExtraVariable(
            name=name, label=str(row["label"]) if _text(row["label"]) else name,
            unit=str(row["unit"]) if _text(row["unit"]) else "",
            kind="categorical" if row["kind"] == "categorical" and levels else "numeric",
            levels=levels, known_at=str(row["known_at"])))
    return tuple(out)


def _text(value) -> bool:
    return isinstance(value, str) and value.strip() != ""


def decode_levels(codes: pd.Series, levels: Sequence[str]) -> pd.Series:
    """Stored level codes as an ordered categorical of the level names (missing stays)."""
    numbers = pd.to_numeric(codes, errors="coerce").to_numpy(dtype=float)
    valid = ~np.isnan(numbers) & (numbers >= 0) & (numbers < len(levels))
    out = np.full(len(numbers), -1, dtype=int)
    out[valid] = numbers[valid].astype(int)
    return pd.Series(pd.Categorical.from_codes(out, categories=list(levels), ordered=True),
                     index=codes.index)


def with_extra_values(patients: pd.DataFrame, wide: pd.DataFrame,
                      variables: Sequence[ExtraVariable]) -> pd.DataFrame:
    """``patients`` (with ``patient_id``) plus one ``extra:<name>`` column per variable,
    from the wide extra features (``store.load_features(..., ["extra"])``)."""
    if not variables:
        return patients
    values = wide.set_index("patient_id") if "patient_id" in wide.columns else wide
    ids = patients["patient_id"]
    added = {}
    for var in variables:
        raw = (values[var.name].reindex(ids.to_numpy()) if var.name in values.columns
               else pd.Series(np.nan, index=ids.to_numpy()))
        raw = pd.Series(raw.to_numpy(dtype=float), index=patients.index)
        added[var.key] = decode_levels(raw, var.levels) if var.categorical else raw
    return patients.assign(**added)


def extra_groups(values: pd.Series, variable: ExtraVariable) -> ExtraGroups:
    """A variable as groups (see the module doc); ``unknown`` only when a value is missing."""
    missing = values.isna().to_numpy()
    if variable.categorical:
        text = values.astype(object).where(~missing, UNKNOWN).astype(str).to_numpy()
        present = set(text[~missing])
        order = [lv for lv in variable.levels if lv in present]
        cut = None
    else:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        missing = np.isnan(numbers)
        distinct = np.unique(numbers[~missing])
        if 1 <= len(distinct) <= 2:          # a yes/no (0/1) variable: its two values
            cut = None
            text = np.array([f"{v:g}" for v in numbers], dtype=object)
            order = [f"{v:g}" for v in distinct]
        elif len(distinct):
            cut = float(np.median(numbers[~missing]))
            if cut < distinct[-1]:
                low, high = f"≤ {cut:g}", f"> {cut:g}"
                text = np.where(numbers <= cut, low, high).astype(object)
            else:                              # the median is the largest value
                low, high = f"< {cut:g}", f"≥ {cut:g}"
                text = np.where(numbers < cut, low, high).astype(object)
            order = [low, high]
        else:
            cut, text, order = None, np.full(len(numbers), UNKNOWN, dtype=object), []
        text[missing] = UNKNOWN
        text = text.astype(str)
    if missing.any():
        order.append(UNKNOWN)
    return ExtraGroups(groups=np.asarray(text, dtype=str), order=tuple(order), cut=cut)


def order_groups(present, variable: ExtraVariable) -> list[str]:
    """Group names of ``variable`` in display order: its levels (or ``≤ m`` before
    ``> m``), anything else sorted, ``unknown`` last."""
    present = list(dict.fromkeys(str(p) for p in present))
    known = [lv for lv in variable.levels if lv in present]
    known += sorted((p for p in present if p.startswith(("≤ ", "> ", "< ", "≥ "))
                     and p not in known), key=lambda p: not p.startswith(("≤", "<")))
    rest = sorted(p for p in present if p not in known and p != UNKNOWN)
    return known + rest + ([UNKNOWN] if UNKNOWN in present else [])


@dataclass(frozen=True, eq=False)
class ArmComparison:
    """One level of a variable against another (e.g. Lev+5FU vs Obs) within subgroups:
    per subgroup variable the ``crlm.stats.subgroup_effects`` result and its level order."""

    reference: str
    compared: str
    n: int
    events: int
    results: dict
    order: dict


def compare_within_subgroups(time, event, arm, reference: str, compared: str,
                             subgroups, *, min_events: int = 5) -> ArmComparison:
    """The hazard ratio of ``compared`` vs ``reference`` (Cox, Efron ties) within each
    level of each subgroup variable, with the likelihood-ratio interaction p-value.

    ``subgroups`` maps a variable's label to its :class:`ExtraGroups` over the same
    patients as ``time``; patients in neither arm or without a known endpoint are left
    out. Raises ``ValueError`` when the two arms are the same level."""
    from crlm import stats

    if reference == compared:
        raise ValueError("choose two different levels to compare")
    arm = pd.Series(arm).astype(object).to_numpy()
    t = np.asarray(time, dtype=float)
    e = pd.Series(event).astype(float).to_numpy()
    keep = np.isin(arm, [reference, compared]) & np.isfinite(t) & ~np.isnan(e)
    group = (arm[keep] == compared).astype(int)
    results, order = {}, {}
    for label, grouping in subgroups.items():
        levels = np.asarray(grouping.groups)[keep]
        results[label] = stats.subgroup_effects(t[keep], e[keep].astype(bool), group, levels,
                                                min_events=min_events)
        present = set(levels)
        order[label] = tuple(lv for lv in grouping.order if lv in present)
    return ArmComparison(reference=reference, compared=compared, n=int(keep.sum()),
                         events=int(e[keep].sum()), results=results, order=order)


def table_one_variables(variables: Sequence[ExtraVariable]) -> list[tuple[str, str, str]]:
    """Table 1 rows ``(column, label, kind)`` of the extra variables."""
    return [(v.key, v.title, "categorical" if v.categorical else "continuous")
            for v in variables]


__all__ = ["ArmComparison", "ExtraGroups", "compare_within_subgroups", "ExtraVariable", "PREFIX", "decode_levels", "extra_groups",
           "is_extra", "load_extra_variables", "order_groups", "table_one_variables", "with_extra_values"]
