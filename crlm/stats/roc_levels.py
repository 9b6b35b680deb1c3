"""ROC (AUC with its DeLong CI) within each level of a subgroup variable, with one sort.

``roc`` sorts each level's cases and controls; here the patients are put in score order
once (or come in it), and each level's sorted cases and controls are read off that order,
so every level costs a pass rather than a sort. The results are ``roc``'s."""
from __future__ import annotations

import numpy as np

from ._validate import check_conf_level
from .diagnostic import ROCResult, roc_of_sorted


def roc_by_level(y, score, codes, n_levels: int, conf_level: float = 0.95, *,
                 presorted: bool = False) -> list[ROCResult | None]:
    """Per level ``0 .. n_levels - 1`` of ``codes``: ``roc(y[codes == k], score[codes ==
    k])``, or None for a level without both classes. ``presorted``: the patients already
    come in ascending score order."""
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
    # a stable sort by level keeps each level's patients in score order
    by_level = np.argsort(codes.astype(np.int16) if n_levels <= 2 ** 15 else codes, kind="stable")
    y, score = y[by_level], score[by_level]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=n_levels))])
    out: list[ROCResult | None] = []
    for k in range(n_levels):
        cases, s = y[bounds[k]:bounds[k + 1]], score[bounds[k]:bounds[k + 1]]
        if cases.all() or not cases.any():
            out.append(None)
            continue
        out.append(roc_of_sorted(s[cases], s[~cases], conf_level))
    return out
