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
Cox model"): a one-covariate Cox model ``h(t | r) = h0(t) · exp(β · z)`` is fitted to
the out-of-fold risk scores with Breslow ties, and ``h0`` is Breslow's baseline
cumulative hazard. ``z`` is the risk on a normal-score scale by default
(``scale="rank-normal"``: ``z = Φ⁻¹(F(r))`` with ``F`` the mid-rank distribution of the
calibration risks, a new risk outside their range taken at ``0.5 / n`` from the end),
so that a skewed score (CEA in ng/mL, the tumour burden score, a forest's summed
hazard) calibrates as well as a linear predictor and an extreme value cannot
extrapolate; ``scale="linear"`` uses ``z = (r − mean) / SD``. Then
``S(t | r) = exp(−H0(t) · exp(β · z))``. This works the same way for every survival
family (Cox, random survival forest, boosting, DeepSurv, clinical scores). The interval
is the percentile interval of ``S(t | r)`` over ``n_boot`` bootstrap resamples of the
calibration patients (``β`` and ``H0`` refitted on each): the uncertainty of the
case's predicted probability given its risk score, not the spread of the patient's
own survival time. The one-covariate Breslow fit agrees with
``crlm.stats.cox(..., ties="breslow")`` (tested).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._result import ResultMixin
from ._validate import as_event, as_float, as_probability, as_time, prepare, require_nonempty

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
def _breslow_fit(z: np.ndarray, event: np.ndarray, first: np.ndarray, weights: np.ndarray,
                 max_iter: int = 50, tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Weighted one-covariate Cox fits (Breslow ties), vectorised over rows of ``weights``.

    ``z``, ``event`` sorted by time ascending; ``first``: index of the first patient of
    each distinct event time. Returns ``beta[B]`` and the baseline hazard increments
    ``dh0[B, n_times]`` at those times.
    """
    w = np.atleast_2d(weights).astype(float)
    we = w * event[None, :]
    # events per distinct event time (sum of weights of events tied at it)
    event_idx = np.flatnonzero(event)
    times_of_events = np.searchsorted(first, event_idx, side="right") - 1
    n_times = len(first)
    d = np.zeros((w.shape[0], n_times))
    np.add.at(d.T, times_of_events, we[:, event_idx].T)
    sum_ez = (we * z[None, :]).sum(axis=1)
    beta = np.zeros(w.shape[0])
    for _ in range(max_iter):
        r = w * np.exp(beta[:, None] * z[None, :])
        s0 = np.cumsum(r[:, ::-1], axis=1)[:, ::-1][:, first]
        s1 = np.cumsum((r * z)[:, ::-1], axis=1)[:, ::-1][:, first]
        s2 = np.cumsum((r * z * z)[:, ::-1], axis=1)[:, ::-1][:, first]
        with np.errstate(divide="ignore", invalid="ignore"):
            m1 = np.where(s0 > 0, s1 / s0, 0.0)
            m2 = np.where(s0 > 0, s2 / s0, 0.0)
        grad = sum_ez - (d * m1).sum(axis=1)
        info = (d * (m2 - m1 ** 2)).sum(axis=1)
        step = np.where(info > 1e-12, grad / np.where(info > 1e-12, info, 1.0), 0.0)
        step = np.clip(step, -2.0, 2.0)
        beta = beta + step
        if np.all(np.abs(step) < tol):
            break
    r = w * np.exp(beta[:, None] * z[None, :])
    s0 = np.cumsum(r[:, ::-1], axis=1)[:, ::-1][:, first]
    with np.errstate(divide="ignore", invalid="ignore"):
        dh0 = np.where(s0 > 0, d / s0, 0.0)
    return beta, dh0


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
    """Breslow calibration of a risk score to absolute survival (see the module doc).

    ``event_times``: the distinct event times; ``cumhaz``: ``H0`` at them;
    ``boot_beta``, ``boot_cumhaz``: the same for each bootstrap resample.
    """

    centre: float
    scale: float
    beta: float
    reference: np.ndarray     # sorted calibration risks (rank-normal scale), else empty
    event_times: np.ndarray
    cumhaz: np.ndarray
    boot_beta: np.ndarray
    boot_cumhaz: np.ndarray
    n_calibration: int
    n_events: int
    max_time: float

    def _z(self, risk: float) -> float:
        r = float(risk)
        if not math.isfinite(r):
            raise ValueError(f"risk must be finite, got {risk!r}")
        if len(self.reference):
            return float(_normal_scores(self.reference, np.array([r]))[0])
        return (r - self.centre) / self.scale

    def _cumhaz_at(self, cumhaz: np.ndarray, times: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.event_times, times, side="right") - 1
        padded = np.concatenate([np.zeros(cumhaz.shape[:-1] + (1,)), cumhaz], axis=-1)
        return np.take(padded, idx + 1, axis=-1)

    def curve(self, risk: float, times: Sequence[float] | None = None) -> np.ndarray:
        """``S(t | risk)`` at ``times`` (default: the event times)."""
        t = self.event_times if times is None else np.asarray(times, dtype=float)
        h = self._cumhaz_at(self.cumhaz, t)
        return np.exp(-h * math.exp(self.beta * self._z(risk)))

    def _boot_curves(self, risk: float, t: np.ndarray) -> np.ndarray:
        z = self._z(risk)
        h = self._cumhaz_at(self.boot_cumhaz, t)
        return np.exp(-h * np.exp(self.boot_beta * z)[:, None])

    def survival(self, risk: float, times: Sequence[float], coverage: float = 0.9
                 ) -> AbsoluteSurvival:
        """The case's survival at ``times`` with its bootstrap interval and median."""
        c = _check_coverage(coverage)
        t = as_time(np.atleast_1d(np.asarray(times, dtype=float)), "times")
        point = self.curve(risk, t)
        lo_q, hi_q = (1 - c) / 2, 1 - (1 - c) / 2
        if len(self.boot_beta):
            boot = self._boot_curves(risk, t)
            lower, upper = np.quantile(boot, [lo_q, hi_q], axis=0)
        else:
            lower = upper = np.full(len(t), np.nan)
        beyond = t > self.max_time
        point, lower, upper = (np.where(beyond, np.nan, a) for a in (point, lower, upper))
        median = self._median(self.curve(risk))
        if len(self.boot_beta):
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
        if len(self.boot_beta):
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


SCALES = ("rank-normal", "linear")


def risk_survival_calibration(risk, time, event, *, n_boot: int = 200,
                              random_state: int = 0, scale: str = "rank-normal",
                              dropna: bool = False) -> RiskSurvivalCalibration:
    """Fit the Breslow calibration of ``risk`` (higher = earlier events) on out-of-fold
    ``risk`` with follow-up ``time`` (months) and ``event`` (1 = event), on the ``scale``
    of the module doc, and its ``n_boot`` bootstrap refits (seeded by ``random_state``)."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
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
    event_times, first = np.unique(t, return_index=True)
    keep = np.array([e[i:j].any() for i, j in zip(first, list(first[1:]) + [len(t)])])
    event_times, first = event_times[keep], first[keep]
    beta, dh0 = _breslow_fit(z, e, first, np.ones((1, len(t))))
    rng = np.random.default_rng(random_state)
    if n_boot:
        counts = rng.multinomial(len(t), np.full(len(t), 1.0 / len(t)), size=n_boot)
        boot_beta, boot_dh0 = _breslow_fit(z, e, first, counts)
        boot_cumhaz = np.cumsum(boot_dh0, axis=1)
    else:
        boot_beta, boot_cumhaz = np.zeros(0), np.zeros((0, len(event_times)))
    return RiskSurvivalCalibration(
        centre=centre, scale=sd, beta=float(beta[0]), reference=reference,
        event_times=event_times,
        cumhaz=np.cumsum(dh0[0]), boot_beta=boot_beta, boot_cumhaz=boot_cumhaz,
        n_calibration=int(len(t)), n_events=int(e.sum()), max_time=float(t.max()))
