"""ROC curve, DeLong AUC confidence interval and paired test, diagnostic metrics.

Score direction: a higher score means "more likely positive" (pROC
``direction="<"``: controls have lower values than cases). Nothing is flipped
automatically — an AUC below 0.5 is reported as such.

Cases and controls are sorted separately, then one merge pass over the two
sorted runs gives, per distinct score, how many cases and controls hold it:
the ROC curve and the DeLong placements (midranks) are cumulative sums of
those counts, O(n log n) for the sorts and O(n) after. ``roc`` does the passes
after the sorts in one compiled kernel and sums the placements per distinct
score.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._dist import norm_sf, z_quantile
from ._kernels import _roc_from_sorted, placements_in_order, split_by_flag
from ._result import ResultMixin
from ._sort import ascending_order
from ._validate import as_event, as_float, check_conf_level, prepare


def wilson_interval(successes, trials, conf_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (no continuity correction); NaN where ``trials`` is 0."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    z = z_quantile(conf_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        lo = np.clip(centre - half, 0.0, 1.0)
        hi = np.clip(centre + half, 0.0, 1.0)
    return lo, hi


def _binary_and_score(y_true, score, dropna: bool, score_name: str = "score", **extra):
    a = prepare(dropna, y_true=y_true, **{score_name: score}, **extra)
    y = as_event(a["y_true"], "y_true")
    s = as_float(a[score_name], score_name)
    return y, s, a


def _placements(cases: np.ndarray, controls: np.ndarray):
    """DeLong structural components, each at its patient's place in the input (so that two
    scores pair patient by patient): per case P(control < case) + 0.5 P(tie), per control
    P(case > control) + 0.5 P(tie)."""
    both = np.concatenate((cases, controls))
    out = placements_in_order(both, len(cases), ascending_order(both, stable=False))
    return out[:len(cases)], out[len(cases):]


@dataclass(frozen=True)
class ROCResult(ResultMixin):
    """Empirical ROC curve.

    ``thresholds[k]``: a patient is called positive when ``score > thresholds[k]``;
    thresholds run from +inf (nobody positive) through midpoints between
    consecutive distinct scores to -inf (everybody positive), pROC's convention.
    ``auc_ci``: DeLong, clipped to [0, 1] (pROC ``ci.auc(method="delong")``);
    with perfectly separating scores the DeLong variance is 0 and the CI is (1, 1).
    Youden threshold: maximises sensitivity + specificity; if several thresholds
    tie, the lowest score threshold among them (pROC reports all ties).
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float
    auc_ci: tuple[float, float]
    auc_se: float
    youden_threshold: float
    sensitivity: float
    specificity: float
    n: int
    n_positive: int
    conf_level: float


def roc(y_true, score, conf_level: float = 0.95, *, dropna: bool = False) -> ROCResult:
    """ROC curve, AUC with DeLong CI and the Youden-optimal threshold (see :class:`ROCResult`)."""
    conf_level = check_conf_level(conf_level)
    y, s, _ = _binary_and_score(y_true, score, dropna)
    n, n_pos = len(y), int(y.sum())
    if n_pos == 0 or n_pos == n:
        which = "no positive" if n_pos == 0 else "no negative"
        raise ValueError(f"y_true has {which} cases: ROC needs both classes")
    cases, controls = split_by_flag(s, y)  # fresh arrays: sorted in place
    cases.sort()
    controls.sort()
    return roc_of_sorted(cases, controls, conf_level)


def delong_interval(auc, ss10, ss01, n_pos: int, n_neg: int,
                    conf_level: float) -> tuple[float, tuple[float, float], float]:
    """The AUC, its DeLong CI (clipped to [0, 1]) and SE from the sums of squared
    deviations of the case placements (``ss10``) and the control placements
    (``ss01``)."""
    auc = float(auc)
    var = ss10 / (n_pos - 1) / n_pos + ss01 / (n_neg - 1) / n_neg if min(n_pos, n_neg) > 1 else np.nan
    se = float(np.sqrt(var)) if np.isfinite(var) else float("nan")
    z = z_quantile(conf_level)
    return auc, (float(np.clip(auc - z * se, 0, 1)), float(np.clip(auc + z * se, 0, 1))), se


def roc_of_sorted(sx: np.ndarray, sc: np.ndarray, conf_level: float = 0.95) -> ROCResult:
    """``roc`` of the ascending case scores ``sx`` and control scores ``sc`` (both
    non-empty, checked)."""
    n_pos, n_neg = len(sx), len(sc)
    n = n_pos + n_neg
    tpr, fpr, thresholds, k, auc, ss10, _, ss01 = _roc_from_sorted(sx, sc)
    auc, ci, se = delong_interval(auc, ss10, ss01, n_pos, n_neg, conf_level)
    k = int(k)  # last Youden maximum: the lowest threshold among ties
    return ROCResult(fpr, tpr, thresholds, auc, ci, se, float(thresholds[k]), float(tpr[k]),
                     float(1 - fpr[k]), n, n_pos, conf_level)


@dataclass(frozen=True)
class DeLongTestResult(ResultMixin):
    """Paired DeLong test of two AUCs on the same patients (pROC ``roc.test(paired=TRUE)``)."""

    auc_a: float
    auc_b: float
    difference: float
    z: float
    p_value: float
    difference_ci: tuple[float, float]
    conf_level: float


def delong_test(y_true, score_a, score_b, conf_level: float = 0.95, *,
                dropna: bool = False) -> DeLongTestResult:
    """Paired DeLong test; ``difference`` = auc_a - auc_b. When both curves are identical
    (variance of the difference 0) z is 0 and p is 1."""
    conf_level = check_conf_level(conf_level)
    a = prepare(dropna, y_true=y_true, score_a=score_a, score_b=score_b)
    y = as_event(a["y_true"], "y_true")
    sa, sb = as_float(a["score_a"], "score_a"), as_float(a["score_b"], "score_b")
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        raise ValueError(f"y_true needs at least 2 positive and 2 negative cases, got {m} and {n}")
    v10a, v01a = _placements(*split_by_flag(sa, y))
    v10b, v01b = _placements(*split_by_flag(sb, y))
    auc_a, auc_b = float(v10a.mean()), float(v10b.mean())
    s10 = np.cov(np.vstack((v10a, v10b)))
    s01 = np.cov(np.vstack((v01a, v01b)))
    cov = s10 / m + s01 / n
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    diff = auc_a - auc_b
    zc = z_quantile(conf_level)
    if var <= 0 or not np.isfinite(var):
        zstat, p, se = 0.0 if diff == 0 else float(np.sign(diff) * np.inf), 1.0 if diff == 0 else 0.0, 0.0
    else:
        se = float(np.sqrt(var))
        zstat = diff / se
        p = float(2 * norm_sf(abs(zstat)))
    return DeLongTestResult(auc_a, auc_b, diff, float(zstat), p, (diff - zc * se, diff + zc * se),
                            conf_level)


@dataclass(frozen=True)
class DiagnosticMetrics(ResultMixin):
    """2x2 table at a threshold (positive when ``score >= threshold``) with Wilson CIs."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    sensitivity: float
    sensitivity_ci: tuple[float, float]
    specificity: float
    specificity_ci: tuple[float, float]
    ppv: float
    ppv_ci: tuple[float, float]
    npv: float
    npv_ci: tuple[float, float]
    conf_level: float


def diagnostic_metrics(y_true, score, threshold: float, conf_level: float = 0.95, *,
                       dropna: bool = False) -> DiagnosticMetrics:
    """Sensitivity, specificity, PPV, NPV at ``threshold`` (score >= threshold is positive).

    A metric whose denominator is 0 (e.g. PPV when nobody tests positive) is NaN
    with a NaN interval.
    """
    conf_level = check_conf_level(conf_level)
    y, s, _ = _binary_and_score(y_true, score, dropna)
    pred = s >= float(threshold)
    tp = int(np.sum(pred & y))
    fp = int(np.sum(pred & ~y))
    tn = int(np.sum(~pred & ~y))
    fn = int(np.sum(~pred & y))

    def metric(k, total):
        lo, hi = wilson_interval(k, total, conf_level)
        val = k / total if total else float("nan")
        return float(val), (float(lo), float(hi))

    sens, sens_ci = metric(tp, tp + fn)
    spec, spec_ci = metric(tn, tn + fp)
    ppv, ppv_ci = metric(tp, tp + fp)
    npv, npv_ci = metric(tn, tn + fn)
    return DiagnosticMetrics(float(threshold), tp, fp, tn, fn, sens, sens_ci, spec, spec_ci,
                             ppv, ppv_ci, npv, npv_ci, conf_level)
