"""Restricted mean survival time (area under the Kaplan–Meier curve up to a horizon)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._dist import norm_sf, z_quantile
from ._result import ResultMixin
from ._validate import as_event, as_levels, as_time, check_conf_level, prepare, require_nonempty
from .survival import _risk_table


@dataclass(frozen=True)
class RMSTGroup(ResultMixin):
    group: Any
    rmst: float
    se: float
    ci_lower: float
    ci_upper: float
    n: int


@dataclass(frozen=True)
class RMSTResult(ResultMixin):
    """Restricted mean survival time up to ``horizon`` (survRM2 convention).

    RMST = area under the Kaplan–Meier curve on [0, horizon]; variance
    ``sum_j A_j^2 d_j / (n_j (n_j - d_j))`` over event times t_j <= horizon, with
    A_j the area from t_j to the horizon (terms with n_j = d_j are 0). For two
    groups ``difference`` = second level minus first, normal CI and p.
    """

    horizon: float
    groups: list[RMSTGroup]
    difference: float | None = None
    difference_ci: tuple[float, float] | None = None
    difference_p_value: float | None = None
    conf_level: float = 0.95


def _rmst_one(t: np.ndarray, e: np.ndarray, horizon: float) -> tuple[float, float]:
    if len(t) == 0:
        return float("nan"), float("nan")
    times, at_risk, events, _ = _risk_table(t, e)
    surv = np.cumprod(1.0 - events / at_risk)
    idx = times <= horizon
    wk_time = np.concatenate((times[idx], [horizon]))
    wk_surv = surv[idx]
    n_r, n_e = at_risk[idx].astype(float), events[idx].astype(float)
    areas = np.diff(np.concatenate(([0.0], wk_time))) * np.concatenate(([1.0], wk_surv))
    rmst = float(areas.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        wk_var = np.where(n_r - n_e == 0, 0.0, n_e / (n_r * (n_r - n_e)))
    tail_area = np.cumsum(areas[1:][::-1])[::-1]  # area from t_j to horizon
    var = float(np.sum(tail_area ** 2 * wk_var))
    return rmst, float(np.sqrt(var))


def rmst(time, event, horizon: float, group=None, conf_level: float = 0.95,
         *, dropna: bool = False) -> RMSTResult:
    """Restricted mean survival time per group (see :class:`RMSTResult`)."""
    conf_level = check_conf_level(conf_level)
    horizon = float(horizon)
    if not np.isfinite(horizon) or horizon <= 0:
        raise ValueError(f"horizon must be a positive number, got {horizon}")
    a = prepare(dropna, time=time, event=event, group=group)
    t, e = as_time(a["time"]), as_event(a["event"])
    require_nonempty(len(t))
    if "group" in a:
        codes, levels = as_levels(a["group"], "group")
    else:
        codes, levels = np.zeros(len(t), dtype=np.int64), ["all"]
    z = z_quantile(conf_level)
    out = []
    for k, level in enumerate(levels):
        m = codes == k
        r, se = _rmst_one(t[m], e[m], horizon)
        out.append(RMSTGroup(level, r, se, r - z * se, r + z * se, int(m.sum())))
    if len(out) == 2:
        diff = out[1].rmst - out[0].rmst
        se = float(np.hypot(out[0].se, out[1].se))
        p = float(2 * norm_sf(abs(diff) / se)) if se > 0 else float("nan")
        return RMSTResult(horizon, out, diff, (diff - z * se, diff + z * se), p, conf_level)
    return RMSTResult(horizon, out, conf_level=conf_level)
