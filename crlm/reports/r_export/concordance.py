"""R export of the Models page for survival tasks: Harrell's C and the time-dependent AUC
at 12, 36 and 60 months of every model's risk score."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from crlm import stats
from crlm.reports.r_export._common import (
    AnalysisExport,
    Collector,
    ExportInputError,
    build_script,
    pseudonym_ids,
    r_chr,
    r_num,
    safe_label,
)
from crlm.reports.r_export.models import ModelScores

TD_AUC_MONTHS = (12.0, 36.0, 60.0)

_METHOD = """\
Per model, on the patients with a time > 0, an event status and a score (a higher score
means shorter survival): Harrell's C, survival::concordance(reverse = TRUE); the
cumulative/dynamic time-dependent AUC(t) written out in base R: cases are events by t
weighted by 1/G(T_i-), controls are patients with T > t, risk ties count 1/2, G the
Kaplan-Meier of censoring with events leaving the risk set first at a tied time. That is
riskRegression::Score(metrics = "auc", cens.model = "km") (not needed here; the reference
tests check our AUC against it)."""


def concordance_export(time, event, models: Sequence[ModelScores], *,
                       times: Sequence[float] = TD_AUC_MONTHS, title: str | None = None) -> AnalysisExport:
    """The Models page's survival-task numbers: per model n, events, Harrell's C and the
    time-dependent AUC at ``times`` (``models``' scores aligned with ``time``)."""
    t_all = np.asarray(time, dtype=float)
    e_all = pd.to_numeric(pd.Series(np.asarray(event, dtype=float)), errors="coerce").to_numpy()
    n = len(t_all)
    if n == 0 or len(e_all) != n:
        raise ExportInputError("concordance export: time and event must have one value per patient")
    names = [safe_label(m.name) for m in models]
    if len(set(names)) != len(names) or any(nm in ("pid", "time", "event") for nm in names):
        raise ExportInputError("concordance export: model names must be distinct (and not pid, time or event)")
    q = np.asarray(times, dtype=float)
    out = Collector()
    used = []
    scores = {}
    for nm, m in zip(names, models):
        s = np.asarray(m.scores, dtype=float)
        if s.shape != (n,):
            raise ExportInputError(f"concordance export: {m.name!r} has {s.shape[0]} scores for {n} patients")
        scores[nm] = s
        ok = ~np.isnan(t_all) & ~np.isnan(e_all) & ~np.isnan(s)
        ok &= np.where(np.isnan(t_all), False, t_all > 0)
        t, e, r = t_all[ok], e_all[ok].astype(bool), s[ok]
        if len(t) < 2 or not e.any():
            continue
        used.append(nm)
        p = f"survival_model[{nm}]"
        out.put(f"{p}.n", len(t))
        out.put(f"{p}.events", int(e.sum()))
        out.put(f"{p}.harrell_c", stats.concordance_index(t, e, r).concordance)
        try:
            auc = stats.time_dependent_auc(t, e, r, q).auc
        except ValueError:  # as the page: too few patients
            auc = np.full(len(q), np.nan)
        for tk, a in zip(q, auc):
            out.put(f"{p}.auc_{tk:g}", a)
    data = pd.DataFrame({"pid": pseudonym_ids(n), "time": t_all, "event": e_all})
    for nm in names:
        data[nm] = scores[nm]
    body = "\n".join([
        f"models <- {r_chr(used)}",
        f"times <- {r_num(q)}",
        f"time_labels <- {r_chr([f'{x:g}' for x in q])}",
        "# IPCW cumulative/dynamic AUC(t), cases weighted by 1/G(T_i-)",
        "td_auc <- function(time, event, risk, t) {",
        "  ut <- sort(unique(time)); idx <- match(time, ut)",
        "  cnt <- tabulate(idx, length(ut)); d <- tabulate(idx[event == 1], length(ut))",
        "  n_at <- length(time) - c(0, cumsum(cnt))[seq_along(ut)]",
        "  cens <- cnt - d",
        "  G <- cumprod(ifelse(cens > 0, 1 - cens / (n_at - d), 1))  # events leave first",
        "  case <- time <= t & event == 1; ctrl <- time > t",
        "  if (!any(case) || !any(ctrl)) return(NA_real_)",
        "  before <- findInterval(time[case], ut, left.open = TRUE)  # last time < T_i",
        "  g <- ifelse(before == 0, 1, G[pmax(before, 1)])",
        "  w <- ifelse(g > 0, 1 / g, 0)",
        "  if (sum(w) == 0) return(NA_real_)",
        "  rk <- sort(risk[ctrl]); rc <- risk[case]",
        "  lower <- findInterval(rc, rk, left.open = TRUE); upto <- findInterval(rc, rk)",
        "  sum(w * (lower + 0.5 * (upto - lower))) / (sum(w) * length(rk))",
        "}",
        "for (m in models) {",
        "  ok <- !is.na(d$time) & !is.na(d$event) & !is.na(d[[m]]) & d$time > 0",
        "  s <- d[ok, ]",
        "  p <- sprintf(\"survival_model[%s]\", m)",
        "  put(paste0(p, \".n\"), nrow(s))",
        "  put(paste0(p, \".events\"), sum(s$event))",
        "  put(paste0(p, \".harrell_c\"),",
        "      concordance(Surv(s$time, s$event) ~ s[[m]], reverse = TRUE)$concordance)",
        "  for (k in seq_along(times))",
        "    put(sprintf(\"%s.auc_%s\", p, time_labels[k]), td_auc(s$time, s$event, s[[m]], times[k]))",
        "}",
    ])
    title = title or "Models (survival task): Harrell's C and time-dependent AUC"
    script = build_script(title=title, page="Models", method=_METHOD, body=body)
    return AnalysisExport("models", title, data, script, out.quantities())
