"""Baseline characteristics ("Table 1") of a cohort split by a grouping column.

Conventions (R's ``tableone`` with every continuous variable listed as
``nonnormal`` and ``correct = FALSE`` for the chi-square test):
- continuous variables: median [IQR] (quartiles by linear interpolation, R type 7);
  p-value from the Kruskal–Wallis test (the Wilcoxon rank-sum test for two groups),
  R ``kruskal.test``;
- categorical variables: n (%) of non-missing values per level; p-value from
  Pearson's chi-square test on the non-missing table, R ``chisq.test``. By default
  without continuity correction (``correct = FALSE``), so that a 2×2 table and a
  larger one are tested alike. ``continuity_correction=True`` applies Yates'
  correction to 2×2 tables (R's and tableone's default ``correct = TRUE``; larger
  tables are never corrected, in R either);
- missing values are counted in their own row and excluded from p-values;
- standardised mean difference (SMD): for two groups, continuous
  ``|m1 - m2| / sqrt((s1² + s2²) / 2)`` and categorical the multi-level
  Yang & Dalton (2012) form; for more groups the largest pairwise SMD among the
  pairs where it is defined (tableone prints the mean pairwise SMD instead).
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from .sorted_quantiles import sorted_percentiles


@dataclass(frozen=True)
class BaselineTable:
    """``table`` has columns: variable, level, Overall, one per group, p_value, smd.

    ``values`` holds the numbers behind the text cells at full precision, one row per
    (variable, level, group, statistic): ``median``, ``q1``, ``q3`` and ``missing`` for
    continuous variables; ``n``, ``percent`` and ``missing`` for categorical ones
    (group "Overall" or a group name); ``p_value`` and ``smd`` with group "".
    """

    table: pd.DataFrame
    by: str | None
    groups: tuple[str, ...]
    n_by_group: dict
    values: pd.DataFrame | None = None

    def to_dict(self) -> dict:
        return {"by": self.by, "groups": list(self.groups), "n_by_group": dict(self.n_by_group),
                "rows": self.table.to_dict(orient="records")}


def _quartiles(x: np.ndarray) -> tuple[float, float, float]:
    """(median, q1, q3), R's quantile type 7; NaN when empty."""
    if len(x) == 0:
        return float("nan"), float("nan"), float("nan")
    q1, med, q3 = sorted_percentiles(np.sort(x), [25, 50, 75])   # np.percentile's numbers
    return float(med), float(q1), float(q3)


def _fmt_median(q: tuple[float, float, float]) -> str:
    med, q1, q3 = q
    if np.isnan(med):
        return "–"
    return f"{med:.1f} [{q1:.1f}–{q3:.1f}]"


def _largest(values) -> float:
    """The largest of the pairwise SMDs that are numbers (NaN when none is)."""
    finite = [v for v in values if not np.isnan(v)]
    return float(max(finite)) if finite else float("nan")


def _smd_continuous(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    pooled = np.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)
    return float(abs(a.mean() - b.mean()) / pooled) if pooled > 0 else 0.0


def _smd_categorical(pa: np.ndarray, pb: np.ndarray) -> float:
    """Yang & Dalton multi-level SMD from level proportions (first level dropped)."""
    if len(pa) < 2:
        return float("nan")
    if len(pa) == 2:
        denom = np.sqrt((pa[1] * (1 - pa[1]) + pb[1] * (1 - pb[1])) / 2)
        return float(abs(pa[1] - pb[1]) / denom) if denom > 0 else 0.0
    t, c = pa[1:], pb[1:]
    s = np.empty((len(t), len(t)))
    for i in range(len(t)):
        for j in range(len(t)):
            s[i, j] = ((t[i] * (1 - t[i]) + c[i] * (1 - c[i])) / 2 if i == j
                       else (-t[i] * t[j] - c[i] * c[j]) / 2)
    diff = t - c
    try:
        val = float(diff @ np.linalg.pinv(s) @ diff)
    except np.linalg.LinAlgError:
        return float("nan")
    return float(np.sqrt(max(val, 0.0)))


# value kinds (pandas ``infer_dtype``) whose text is a function of the value alone, so that
# the rules below may read each distinct value once; mixed values are read one at a time
_BY_DISTINCT_VALUE = ("boolean", "string", "categorical", "integer", "floating", "empty")


def _texts(s: pd.Series, kind: str) -> np.ndarray:
    if kind == "boolean":
        return np.where(s.eq(True).fillna(False).to_numpy(dtype=bool), "yes", "no").astype(object)
    if kind in ("string", "categorical", "integer", "floating", "mixed-integer-float", "empty"):
        return s.astype(str).to_numpy(dtype=object)
    return s.map(lambda v: "yes" if v is True else "no" if v is False else str(v)
                 ).to_numpy(dtype=object)


def _sorted_codes(codes: np.ndarray, texts) -> tuple[np.ndarray, list[str]]:
    """Codes into ``texts`` (-1: missing) as codes into the sorted distinct texts."""
    levels = sorted(set(texts))
    position = {text: k for k, text in enumerate(levels)}
    lookup = np.array([position[t] for t in texts] + [-1], dtype=np.int64)
    return lookup[codes], levels


def _yes_no_codes(s: pd.Series) -> tuple[np.ndarray, list[str]] | None:
    """A yes/no column's levels without a hash of its values ("no" before "yes", only the
    levels present; -1 when missing), or None when ``s`` is not a yes/no column."""
    if s.dtype == bool:
        codes = s.to_numpy().view(np.int8)
    elif str(s.dtype) == "boolean":
        codes = s.to_numpy(dtype=np.int8, na_value=-1)
    else:
        return None
    n_yes = int(np.count_nonzero(codes == 1))
    n_no = len(codes) - n_yes - int(np.count_nonzero(codes < 0))
    if n_yes and n_no:
        return codes.astype(np.int64), ["no", "yes"]
    return np.where(codes < 0, -1, 0), (["yes"] if n_yes else ["no"] if n_no else [])


def _level_codes(s: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Each value's level (-1 when missing) and the levels, sorted; booleans read as
    "yes"/"no", everything else by its text."""
    yes_no = _yes_no_codes(s)
    if yes_no is not None:
        return yes_no
    if isinstance(s.dtype, pd.CategoricalDtype):   # its codes, when every level is present
        codes = s.cat.codes.to_numpy().astype(np.int64)
        if (np.bincount(codes + 1, minlength=len(s.cat.categories) + 1)[1:] > 0).all():
            return _sorted_codes(codes, [str(t) for t in s.cat.categories])
    kind = pd.api.types.infer_dtype(s, skipna=True)
    if kind in _BY_DISTINCT_VALUE:
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        texts = [str(t) for t in _texts(pd.Series(uniques), kind)]
        return _sorted_codes(codes.astype(np.int64), texts)
    missing = s.isna().to_numpy()
    text = _texts(s, kind)
    text[missing] = None
    codes, uniques = pd.factorize(text, sort=True)
    return codes.astype(np.int64), [str(u) for u in uniques]


def _group_codes(s: pd.Series) -> tuple[np.ndarray, tuple[str, ...]]:
    """Each row's group (by its text; a missing value is "unknown") and the groups, sorted."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    u = pd.Series(uniques)
    texts = u.astype("object").where(u.notna(), "unknown").astype(str).tolist()
    texts.append("unknown")   # code -1
    levels = sorted(set(texts[:-1]) | ({"unknown"} if (codes < 0).any() else set()))
    position = {text: k for k, text in enumerate(levels)}
    lookup = np.array([position.get(t, -1) for t in texts], dtype=np.int64)
    return lookup[codes], tuple(levels)


def baseline_table(frame: pd.DataFrame, variables: Sequence[tuple[str, str, str]],
                   by: str | None = None, *, max_groups: int = 12,
                   continuity_correction: bool = False) -> BaselineTable:
    """Table 1 of ``frame``.

    ``variables``: (column, label, kind) with kind ``"continuous"`` or ``"categorical"``.
    ``by``: grouping column (missing values form a group "unknown"), or None.
    ``continuity_correction``: Yates' correction for 2×2 chi-square tests (R
    ``chisq.test(correct = TRUE)``); off by default (see the module doc).
    """
    for column, _, kind in variables:
        if column not in frame.columns:
            raise ValueError(f"baseline_table: no column {column!r}")
        if kind not in ("continuous", "categorical"):
            raise ValueError(f"baseline_table: kind of {column!r} must be continuous or categorical")
    if by is not None and by not in frame.columns:
        raise ValueError(f"baseline_table: no grouping column {by!r}")
    if by is not None:
        group_code, groups = _group_codes(frame[by])
        if len(groups) > max_groups:
            raise ValueError(f"baseline_table: {by!r} has {len(groups)} levels (max {max_groups})")
    else:
        groups = ()
        group_code = np.full(len(frame), -1, dtype=np.int64)
    masks = {grp: group_code == k for k, grp in enumerate(groups)}
    values: list[tuple] = []  # (variable, level, group, statistic, value)
    rows: list[dict] = [{
        "variable": "n", "level": "", "Overall": f"{len(frame)}",
        **{grp: f"{int(m.sum())}" for grp, m in masks.items()}, "p_value": np.nan, "smd": np.nan,
    }]
    for column, label, kind in variables:
        s = frame[column]
        if kind == "continuous":
            x = pd.to_numeric(s, errors="coerce").astype(float)
            ok = x.notna().to_numpy()
            vals = x.to_numpy()
            parts = [vals[ok & m] for m in masks.values()]
            p = np.nan
            nonempty = [v for v in parts if len(v) > 0]
            if len(nonempty) >= 2 and len(np.unique(np.concatenate(nonempty))) > 1:
                p = float(sps.kruskal(*nonempty).pvalue)
            smd = _largest(_smd_continuous(a, b) for a, b in combinations(parts, 2))
            quart = {"Overall": _quartiles(vals[ok]), **{grp: _quartiles(v) for grp, v in zip(masks, parts)}}
            rows.append({"variable": label, "level": "median [IQR]", "Overall": _fmt_median(quart["Overall"]),
                         **{grp: _fmt_median(quart[grp]) for grp in masks},
                         "p_value": p, "smd": smd})
            for grp, q in quart.items():
                values.extend((label, "", grp, stat, v) for stat, v in zip(("median", "q1", "q3"), q))
            values.extend([(label, "", "", "p_value", p), (label, "", "", "smd", smd)])
            values.append((label, "", "Overall", "missing", float((~ok).sum())))
            values.extend((label, "", grp, "missing", float((~ok & m).sum())) for grp, m in masks.items())
            n_missing = int((~ok).sum())
            if n_missing:
                rows.append({"variable": label, "level": "missing", "Overall": f"{n_missing}",
                             **{grp: f"{int((~ok & m).sum())}" for grp, m in masks.items()},
                             "p_value": np.nan, "smd": np.nan})
        else:
            codes, levels = _level_codes(s)
            ok = codes >= 0
            n_levels = len(levels)
            n_by_level = np.bincount(codes[ok], minlength=n_levels)
            if masks:
                both = ok & (group_code >= 0)
                counts = np.bincount(group_code[both] * n_levels + codes[both],
                                     minlength=len(groups) * n_levels).reshape(len(groups), n_levels)
            else:
                counts = np.zeros((0, n_levels), dtype=int)
            p = np.nan
            if counts.shape[0] >= 2 and n_levels >= 2:
                table = counts[counts.sum(axis=1) > 0][:, counts.sum(axis=0) > 0]
                if table.shape[0] >= 2 and table.shape[1] >= 2:
                    p = float(sps.chi2_contingency(table, correction=continuity_correction)[1])
            props = [row / row.sum() if row.sum() else np.full(n_levels, np.nan) for row in counts]
            smd = _largest(_smd_categorical(a, b) for a, b in combinations(props, 2)
                           if not np.isnan(a).any() and not np.isnan(b).any())
            total_ok = int(ok.sum())
            ok_by_group = counts.sum(axis=1)
            values.extend([(label, "", "", "p_value", p), (label, "", "", "smd", smd)])
            values.append((label, "", "Overall", "missing", float((~ok).sum())))
            values.extend((label, "", grp, "missing", float((~ok & m).sum())) for grp, m in masks.items())
            for i, lv in enumerate(levels):
                n_all = int(n_by_level[i])
                values.append((label, lv, "Overall", "n", float(n_all)))
                values.append((label, lv, "Overall", "percent",
                               100 * n_all / total_ok if total_ok else float("nan")))
                cells = {}
                for j, grp in enumerate(masks):
                    denom = int(ok_by_group[j])
                    cells[grp] = f"{counts[j, i]} ({100 * counts[j, i] / denom:.1f}%)" if denom else "–"
                    values.append((label, lv, grp, "n", float(counts[j, i])))
                    values.append((label, lv, grp, "percent",
                                   100 * counts[j, i] / denom if denom else float("nan")))
                rows.append({"variable": label, "level": lv,
                             "Overall": f"{n_all} ({100 * n_all / total_ok:.1f}%)" if total_ok else "–",
                             **cells, "p_value": p if i == 0 else np.nan,
                             "smd": smd if i == 0 else np.nan})
            n_missing = int((~ok).sum())
            if n_missing:
                rows.append({"variable": label, "level": "missing", "Overall": f"{n_missing}",
                             **{grp: f"{int((~ok & m).sum())}" for grp, m in masks.items()},
                             "p_value": np.nan, "smd": np.nan})
    table = pd.DataFrame(rows, columns=["variable", "level", "Overall", *groups, "p_value", "smd"])
    return BaselineTable(table=table, by=by, groups=groups,
                         n_by_group={grp: int(m.sum()) for grp, m in masks.items()},
                         values=pd.DataFrame(values, columns=["variable", "level", "group",
                                                              "statistic", "value"]))
