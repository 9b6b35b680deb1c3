"""Per-case prediction uncertainty: split-conformal sets for a binary probability and
absolute survival probabilities from any risk score, with a bootstrap interval.

Both are calibrated on *out-of-fold* predictions of development patients (scores of
patients the scoring model never saw), so they describe how the model behaves on new
patients, not on its own training rows.

Split-conformal prediction sets (Vovk et al. 2005; Angelopoulos & Bates 2021, the
"least ambiguous set" score): the non-conformity of a calibration patient is
``1 − p(true class)``; for coverage ``1 − α`` the cut ``q`` is the
``⌈(n + 1)(1 − α)⌉``-th smallest calibration score (infinite when that rank exceeds
``n``), and a new case's set holds every class ``y`` with ``1 − p(y) ≤ q``. Under
exchangeability of the calibration and new patients, the set contains the true class
with probability at least ``1 − α`` (marginal coverage, not per patient).

Absolute survival from a risk score (Royston & Altman 2013, "external validation of a
Cox model"): a Cox model ``h(t | r) = h0(t) · exp(f(z))`` is fitted to the out-of-fold
risk scores with Breslow ties, ``h0`` being Breslow's baseline cumulative hazard and
``f`` a restricted cubic spline of ``z`` whose number of knots is fixed by the number of
events (``crlm.stats.spline_cox``: 4 knots from 45 events, 3 from 30, else the straight
line ``f(z) = β · z``), so that a score whose top tail is steeper than its middle is
followed. ``z`` is the risk on a normal-score scale by default
(``scale="rank-normal"``: ``z = Φ⁻¹(F(r))`` with ``F`` the mid-rank distribution of the
calibration risks, a new risk outside their range taken at ``0.5 / n`` from the end),
so that a skewed score (CEA in ng/mL, the tumour burden score, a forest's summed
hazard) calibrates as well as a linear predictor and an extreme value cannot
extrapolate; ``scale="linear"`` uses ``z = (r − mean) / SD``. Then
``S(t | r) = exp(−H0(t) · exp(f(z)))``. This works the same way for every survival
family (Cox, random survival forest, boosting, DeepSurv, clinical scores). The interval
is the percentile interval of ``S(t | r)`` over ``n_boot`` bootstrap resamples of the
calibration patients, each refitted (``f`` with the same knots, ``H0``, and on the
rank-normal scale ``z`` re-ranked among the resample's risks): a confidence interval
for the survival probability of patients with the case's risk score, not the spread of
the patient's own survival time; on cohorts simulated from a known Cox model it holds
the true probability for the nominal share of new cases (tested). With ``knots=0`` the
straight-line fit agrees with ``crlm.stats.cox(..., ties="breslow")`` (tested).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._result import ResultMixin
from ._validate import as_event, as_float, as_probability, as_time, prepare, require_nonempty
from .spline_cox import (
    KNOT_CHOICES, breslow_cox, choose_knots, event_time_index, spline_basis, spline_knots,
)

COVERAGES = (0.80, 0.90, 0.95)


def _check_coverage(coverage: float) -> float:
    c = float(coverage)
    if not 0.0 < c < 1.0:
        raise ValueError(f"coverage must lie strictly between 0 and 1, got {coverage!r}")
    return c


# --------------------------------------------------------------------------- conformal
@dataclass(frozen=True)
class ConformalBinary(ResultMixin):
    """Split-conformal calibration of a binary probability.

    ``scores``: the sorted calibration non-conformity scores ``1 − p(true class)``.
    """

    scores: np.ndarray
    n_calibration: int

    def cut(self, coverage: float) -> float:
        """The non-conformity cut ``q`` for ``coverage`` (``inf`` when ``n`` is too small)."""
        c = _check_coverage(coverage)
        n = self.n_calibration
        rank = math.ceil((n + 1) * c)
        if rank > n:
            return math.inf
        return float(self.scores[rank - 1])

    def prediction_set(self, prob: float, coverage: float) -> tuple[bool, ...]:
        """The classes (``True`` = event/responder, ``False`` = not) in the case's set,
        positive class first; may be empty (the case is unlike every calibration patient)
        or hold both (the model cannot tell at this coverage)."""
        p = float(as_probability(np.array([prob]), "prob")[0])
        q = self.cut(coverage)
        out = []
        if 1.0 - p <= q:
            out.append(True)
        if p <= q:
            out.append(False)
        return tuple(out)

    def prediction_sets(self, prob, coverage: float) -> np.ndarray:
        """Boolean array ``[n, 2]``: columns "positive in the set", "negative in the set"."""
        p = as_probability(np.asarray(prob, dtype=float), "prob")
        q = self.cut(coverage)
        return np.column_stack([1.0 - p <= q, p <= q])


def conformal_binary(prob, y_true, *, dropna: bool = False) -> ConformalBinary:
    """Split-conformal calibration from out-of-fold probabilities ``prob`` and outcomes
    ``y_true`` (0/1) (see the module doc)."""
    a = prepare(dropna, prob=prob, y_true=y_true)
    p = as_probability(a["prob"], "prob")
    y = as_event(a["y_true"], "y_true")
    require_nonempty(len(p), "prob")
    scores = np.where(y, 1.0 - p, p)
    return ConformalBinary(scores=np.sort(scores), n_calibration=int(len(p)))


def set_coverage(sets: np.ndarray, y_true) -> float:
    """Share of cases whose set (``ConformalBinary.prediction_sets``) holds the true class."""
    y = as_event(np.asarray(y_true), "y_true")
    sets = np.asarray(sets, dtype=bool)
    hit = np.where(y, sets[:, 0], sets[:, 1])
    return float(hit.mean()) if len(hit) else float("nan")


# --------------------------------------------------------------------------- survival
@dataclass(frozen=True)
class AbsoluteSurvival(ResultMixin):
    """A case's predicted survival at ``times`` with a ``coverage`` bootstrap interval;
    ``median`` is the first time the predicted curve reaches 0.5 (NaN: not reached within
    the calibration follow-up, whose end is ``max_time``)."""

    times: np.ndarray
    survival: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    coverage: float
    median: float
    median_lower: float
    median_upper: float
    max_time: float

    @property
    def median_reached(self) -> bool:
        return bool(np.isfinite(self.median))


@dataclass(frozen=True)
class RiskSurvivalCalibration(ResultMixin):
    """Cox / Breslow calibration of a risk score to absolute survival (see the module doc).

    ``coef``: the coefficients of the spline basis of ``z`` at ``knots`` (no knots: the
    straight line ``β · z``); ``event_times``: the distinct event times; ``cumhaz``: ``H0``
    at them; ``boot_coef``, ``boot_cumhaz``: the same for each bootstrap resample (same
    knots; on the rank-normal scale ``z`` re-ranked in each resample, from ``boot_ranks``);
    ``score_factor``: a new case's risk is multiplied by it before calibration (1, unless
    the model that scores new cases gives a known multiple of the calibration scores).
    """

    centre: float
    scale: float
    coef: np.ndarray
    knots: np.ndarray
    reference: np.ndarray     # sorted calibration risks (rank-normal scale), else empty
    event_times: np.ndarray
    cumhaz: np.ndarray
    boot_coef: np.ndarray
    boot_cumhaz: np.ndarray
    n_calibration: int
    n_events: int
    max_time: float
    boot_ranks: np.ndarray    # [B, n] cumulative resample counts over ``reference``
    score_factor: float = 1.0

    @property
    def beta(self) -> float:
        """The coefficient of ``z`` itself (the whole slope for a straight line)."""
        return float(self.coef[0])

    @property
    def df(self) -> int:
        return int(len(self.coef))

    def _z(self, risk: float) -> float:
        r = float(risk)
        if not math.isfinite(r):
            raise ValueError(f"risk must be finite, got {risk!r}")
        r *= self.score_factor
        if len(self.reference):
            return float(_normal_scores(self.reference, np.array([r]))[0])
        return (r - self.centre) / self.scale

    def linear_predictor(self, risk: float) -> float:
        """``f(z)`` of the case."""
        return float(self.coef @ spline_basis(np.array([self._z(risk)]), self.knots)[0])

    def _boot_linear_predictors(self, risk: float) -> np.ndarray:
        """``f_b(z_b)`` of the case in each resample, ``z_b`` its normal score among the
        resample's calibration risks (on the rank-normal scale)."""
        if len(self.boot_ranks):
            r = float(risk) * self.score_factor
            z = _weighted_normal_scores(self.reference, self.boot_ranks, np.array([r]))[:, 0]
        else:
            z = np.full(len(self.boot_coef), self._z(risk))
        return (spline_basis(z, self.knots) * self.boot_coef).sum(axis=1)

    def _cumhaz_at(self, cumhaz: np.ndarray, times: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.event_times, times, side="right") - 1
        padded = np.concatenate([np.zeros(cumhaz.shape[:-1] + (1,)), cumhaz], axis=-1)
        return np.take(padded, idx + 1, axis=-1)

    def curve(self, risk: float, times: Sequence[float] | None = None) -> np.ndarray:
        """``S(t | risk)`` at ``times`` (default: the event times)."""
        t = self.event_times if times is None else np.asarray(times, dtype=float)
        h = self._cumhaz_at(self.cumhaz, t)
        return np.exp(-h * math.exp(self.linear_predictor(risk)))

    def _boot_curves(self, risk: float, t: np.ndarray) -> np.ndarray:
        lp = self._boot_linear_predictors(risk)
        h = self._cumhaz_at(self.boot_cumhaz, t)
        return np.exp(-h * np.exp(lp)[:, None])

    def survival(self, risk: float, times: Sequence[float], coverage: float = 0.9
                 ) -> AbsoluteSurvival:
        """The case's survival at ``times`` with its bootstrap interval and median."""
        c = _check_coverage(coverage)
        t = as_time(np.atleast_1d(np.asarray(times, dtype=float)), "times")
        point = self.curve(risk, t)
        lo_q, hi_q = (1 - c) / 2, 1 - (1 - c) / 2
        if len(self.boot_coef):
            boot = self._boot_curves(risk, t)
            lower, upper = np.quantile(boot, [lo_q, hi_q], axis=0)
        else:
            lower = upper = np.full(len(t), np.nan)
        beyond = t > self.max_time
        point, lower, upper = (np.where(beyond, np.nan, a) for a in (point, lower, upper))
        median = self._median(self.curve(risk))
        if len(self.boot_coef):
            medians = np.array([self._median(row) for row in
                                self._boot_curves(risk, self.event_times)])
            never = 2.0 * self.max_time + 1.0      # "not reached" sorts after every time
            m_lo, m_hi = np.quantile(np.where(np.isfinite(medians), medians, never),
                                     [lo_q, hi_q], method="inverted_cdf")
            m_lo = float(m_lo) if m_lo <= self.max_time else float("nan")
            m_hi = float(m_hi) if m_hi <= self.max_time else float("nan")
        else:
            m_lo = m_hi = float("nan")
        return AbsoluteSurvival(times=t, survival=point, lower=lower, upper=upper, coverage=c,
                                median=median, median_lower=m_lo, median_upper=m_hi,
                                max_time=self.max_time)

    def band(self, risk: float, coverage: float = 0.9) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray, np.ndarray]:
        """``(times, survival, lower, upper)`` over the event times, for a figure."""
        c = _check_coverage(coverage)
        t = self.event_times
        point = self.curve(risk, t)
        if len(self.boot_coef):
            lower, upper = np.quantile(self._boot_curves(risk, t), [(1 - c) / 2, 1 - (1 - c) / 2],
                                       axis=0)
        else:
            lower = upper = np.full(len(t), np.nan)
        return t, point, lower, upper

    def _median(self, curve: np.ndarray) -> float:
        below = np.flatnonzero(curve <= 0.5)
        return float(self.event_times[below[0]]) if len(below) else float("nan")


def _normal_scores(reference: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``Φ⁻¹`` of the mid-rank distribution of sorted ``reference`` at ``values``."""
    from scipy import special

    n = len(reference)
    below = np.searchsorted(reference, values, side="left")
    upto = np.searchsorted(reference, values, side="right")
    p = np.clip((below + upto) / (2.0 * n), 0.5 / n, 1 - 0.5 / n)
    return special.ndtri(p)


def _weighted_normal_scores(reference: np.ndarray, cum_counts: np.ndarray,
                            values: np.ndarray) -> np.ndarray:
    """``Φ⁻¹`` of each resample's mid-rank distribution at ``values``: ``[B, len(values)]``;
    ``cum_counts [B, n]``: cumulative resample counts over the sorted ``reference``."""
    from scipy import special

    n = len(reference)
    padded = np.concatenate([np.zeros((len(cum_counts), 1)), cum_counts], axis=1)
    below = padded[:, np.searchsorted(reference, values, side="left")]
    upto = padded[:, np.searchsorted(reference, values, side="right")]
    p = np.clip((below + upto) / (2.0 * n), 0.5 / n, 1 - 0.5 / n)
    return special.ndtri(p)


SCALES = ("rank-normal", "linear")


def risk_survival_calibration(risk, time, event, *, n_boot: int = 200,
                              random_state: int = 0, scale: str = "rank-normal",
                              knots: int | str = "auto",
                              dropna: bool = False) -> RiskSurvivalCalibration:
    """Fit the Cox / Breslow calibration of ``risk`` (higher = earlier events) on
    out-of-fold ``risk`` with follow-up ``time`` (months) and ``event`` (1 = event), on
    the ``scale`` of the module doc, through a restricted cubic spline with ``knots``
    knots (0: a straight line, one parameter; ``"auto"``: the rule of
    ``crlm.stats.spline_cox.choose_knots``), and its ``n_boot`` bootstrap refits
    (seeded by ``random_state``; the knots stay those of the full fit)."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if knots != "auto" and knots not in KNOT_CHOICES:
        raise ValueError(f"knots must be 'auto' or one of {KNOT_CHOICES}, got {knots!r}")
    a = prepare(dropna, risk=risk, time=time, event=event)
    r = as_float(a["risk"], "risk")
    t = as_time(a["time"])
    e = as_event(a["event"])
    require_nonempty(len(t))
    if not e.any():
        raise ValueError("no events among the calibration patients: survival cannot be "
                         "calibrated")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    order = np.argsort(t, kind="stable")
    r, t, e = r[order], t[order], e[order]
    centre = float(np.mean(r))
    sd = float(np.std(r)) or 1.0
    reference = np.sort(r) if scale == "rank-normal" else np.zeros(0)
    z = _normal_scores(reference, r) if len(reference) else (r - centre) / sd
    event_times, first = event_time_index(t, e)
    n_knots = choose_knots(int(e.sum())) if knots == "auto" else int(knots)
    cut = spline_knots(z, n_knots)
    X = spline_basis(z, cut)
    coef, dh0, _ = breslow_cox(X, e, first, np.ones((1, len(t))))
    rng = np.random.default_rng(random_state)
    if n_boot:
        counts = rng.multinomial(len(t), np.full(len(t), 1.0 / len(t)), size=n_boot)
        boot_ranks = np.zeros((0, len(t)))
        X_boot = X
        if len(reference):      # each resample's own normal scores (re-ranked)
            boot_ranks = np.cumsum(counts[:, np.argsort(r, kind="stable")], axis=1
                                   ).astype(float)
            z_boot = _weighted_normal_scores(reference, boot_ranks, r)
            X_boot = spline_basis(z_boot.ravel(), cut).reshape(n_boot, len(t), -1)
        boot_coef, boot_dh0, _ = breslow_cox(X_boot, e, first, counts)
        boot_cumhaz = np.cumsum(boot_dh0, axis=1)
    else:
        boot_coef, boot_cumhaz = np.zeros((0, X.shape[1])), np.zeros((0, len(event_times)))
        boot_ranks = np.zeros((0, len(t)))
    return RiskSurvivalCalibration(
        centre=centre, scale=sd, coef=coef[0], knots=cut, reference=reference,
        event_times=event_times, cumhaz=np.cumsum(dh0[0]), boot_coef=boot_coef,
        boot_cumhaz=boot_cumhaz, n_calibration=int(len(t)), n_events=int(e.sum()),
        max_time=float(t.max()), boot_ranks=boot_ranks)
