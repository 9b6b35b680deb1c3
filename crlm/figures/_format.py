"""Number formats shared by figure legends, annotations and tables."""
from __future__ import annotations

import math


def is_finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def format_p(p, *, prefix: str = "p ") -> str:
    """``p = 0.012``, ``p < 0.001``, ``p = 0.45``; ``p not available`` for NaN."""
    if not is_finite(p):
        return f"{prefix}not available"
    p = float(p)
    if p < 0.001:
        return f"{prefix}< 0.001"
    if p < 0.01:
        return f"{prefix}= {p:.3f}"
    return f"{prefix}= {p:.2f}"


def format_estimate(value, lower, upper, digits: int = 2) -> str:
    """``0.78 [0.74–0.82]`` (en dash); ``–`` when the estimate is missing."""
    if not is_finite(value):
        return "–"
    est = f"{float(value):.{digits}f}"
    if not (is_finite(lower) and is_finite(upper)):
        return est
    return f"{est} [{float(lower):.{digits}f}–{float(upper):.{digits}f}]"


def format_auc(result, digits: int = 2) -> str:
    """``AUC 0.78 [0.74–0.82]`` from an ROC result (``auc`` and ``auc_ci``)."""
    lo, hi = tuple(getattr(result, "auc_ci", (float("nan"), float("nan"))))
    return f"AUC {format_estimate(result.auc, lo, hi, digits)}"


def format_months(value, digits: int = 1) -> str:
    return "not reached" if not is_finite(value) else f"{float(value):.{digits}f}"
