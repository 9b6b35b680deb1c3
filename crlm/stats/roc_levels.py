"""The AUC with its DeLong CI within each level of a subgroup variable, in one pass.

The patients come in ascending score order (or are put in it once). One compiled walk
over the runs of tied scores keeps, per level, how many of its cases and controls lie
below, and sums each level's placements over its own distinct scores in ascending
order: the same sums, in the same order, as ``roc`` on the level's rows, so the AUC,
its SE and its CI are ``roc``'s, without a sort or a copy per level."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._kernels import _jit
from ._result import ResultMixin
from ._validate import check_conf_level
from .diagnostic import delong_interval


@dataclass(frozen=True)
class LevelAUC(ResultMixin):
    """One level's AUC with its DeLong CI (as ``roc`` gives them), n and cases."""

    auc: float
    auc_ci: tuple[float, float]
    auc_se: float
    n: int
    n_positive: int
    conf_level: float


def aucs_by_level(y, score, codes, n_levels: int, conf_level: float = 0.95, *,
                 presorted: bool = False) -> list[LevelAUC | None]:
    """Per level ``0 .. n_levels - 1`` of ``codes``: the AUC, CI and SE of ``roc(y[codes ==
    k], score[codes == k])``, or None for a level without both classes. ``presorted``: the
    patients already come in ascending score order."""
    conf_level = check_conf_level(conf_level)
    y = np.asarray(y, dtype=bool)
    score = np.asarray(score, dtype=float)
    codes = np.asarray(codes, dtype=np.int64)
    if not (len(y) == len(score) == len(codes)):
        raise ValueError("y, score and codes need one value per patient")
    if np.isnan(score).any():
        raise ValueError("score has missing values")
    if len(codes) and (codes.min() < 0 or codes.max() >= n_levels):
        raise ValueError(f"codes run from 0 to {n_levels - 1}")
    if presorted and (np.diff(score) < 0).any():
        raise ValueError("presorted scores must come in ascending order")
    if not presorted:
        order = np.argsort(score, kind="stable")
        y, score, codes = y[order], score[order], codes[order]
    nx, nc, mean10, ss10, ss01 = _level_placements(y, score, codes, int(n_levels))
    out: list[LevelAUC | None] = []
    for k in range(n_levels):
        if nx[k] == 0 or nc[k] == 0:
            out.append(None)
            continue
        auc, ci, se = delong_interval(mean10[k], ss10[k], ss01[k], int(nx[k]), int(nc[k]),
                                      conf_level)
        out.append(LevelAUC(auc, ci, se, int(nx[k] + nc[k]), int(nx[k]), conf_level))
    return out


@_jit
def _level_placements(y, score, codes, k):  # pragma: no cover - compiled
    """Per level: cases, controls, the mean case placement (the AUC) and the sums of
    squared deviations of the case and control placements (``_placement_sums``' two
    passes, per level)."""
    nx = np.zeros(k, dtype=np.int64)
    nc = np.zeros(k, dtype=np.int64)
    for i in range(y.shape[0]):
        if y[i]:
            nx[codes[i]] += 1
        else:
            nc[codes[i]] += 1
    centre10 = np.zeros(k)
    centre01 = np.zeros(k)
    sum10, sum01 = _walk(y, score, codes, nx, nc, centre10, centre01, False)
    for level in range(k):
        if nx[level] > 0 and nc[level] > 0:
            centre10[level] = sum10[level] / nx[level]
            centre01[level] = sum01[level] / nc[level]
    ss10, ss01 = _walk(y, score, codes, nx, nc, centre10, centre01, True)
    return nx, nc, centre10, ss10, ss01


@_jit
def _walk(y, score, codes, nx, nc, centre10, centre01, squared):  # pragma: no cover - compiled
    """One walk over the runs of tied scores: per level (with both classes) the sums of
    its case placements (P(control < case) + 0.5 P(tie)) and control placements
    (P(case > control) + 0.5 P(tie)) less the centres, each weighted by the level's count
    at that score, squared first when ``squared``."""
    k = nx.shape[0]
    sum10 = np.zeros(k)
    sum01 = np.zeros(k)
    below_c = np.zeros(k, dtype=np.int64)
    upto_x = np.zeros(k, dtype=np.int64)
    tie_x = np.zeros(k, dtype=np.int64)
    tie_c = np.zeros(k, dtype=np.int64)
    n = y.shape[0]
    i = 0
    while i < n:
        j = i
        while j < n and score[j] == score[i]:
            if y[j]:
                tie_x[codes[j]] += 1
            else:
                tie_c[codes[j]] += 1
            j += 1
        for r in range(i, j):
            level = codes[r]
            cx, cc = tie_x[level], tie_c[level]
            if cx + cc == 0:          # this level's counts at this score are done
                continue
            if nx[level] > 0 and nc[level] > 0:
                upto_x[level] += cx
                d10 = (below_c[level] + 0.5 * cc) / nc[level] - centre10[level]
                d01 = (nx[level] - upto_x[level] + 0.5 * cx) / nx[level] - centre01[level]
                if squared:
                    sum10[level] += cx * d10 * d10
                    sum01[level] += cc * d01 * d01
                else:
                    sum10[level] += cx * d10
                    sum01[level] += cc * d01
                below_c[level] += cc
            tie_x[level] = 0
            tie_c[level] = 0
        i = j
    return sum10, sum01
