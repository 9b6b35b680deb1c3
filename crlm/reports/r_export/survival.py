"""R export of the Survival page: Kaplan–Meier curves, medians, landmark survival,
number at risk, RMST, log-rank test, Cox hazard ratios and the proportional-hazards test."""
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
    r_scalar,
    r_str,
    safe_label,
)

_METHOD = """\
Kaplan-Meier per group with log-log 95% bands (survfit, conf.type = "log-log"); where R
gives NA (survival 1 or 0) the page draws the closed band (1, 1) or (0, 0), and so does
this script. Medians and their CI: quantile.survfit. Landmarks and number at risk:
summary(fit, times =, extend = TRUE). RMST: survRM2's rmst1 formula written out over
survfit (survRM2 is not packaged in Debian), normal 95% CI. Log-rank: survdiff.
Hazard ratios: coxph, Efron ties, first group the reference, Wald CI and p.
Proportional hazards: cox.zph(transform = "km"), global p."""


def _label(value: float) -> str:
    return f"{float(value):g}"


def survival_export(data: pd.DataFrame, *, horizon: float, order: Sequence[str] | None = None,
                    landmarks: Sequence[float] = (12, 36, 60), endpoint: str = "OS",
                    title: str | None = None) -> AnalysisExport:
    """The Survival page's numbers for ``data`` (columns time, event, group), as the page
    computes them: groups in ``order`` (the first is the Cox reference; default sorted),
    RMST up to ``horizon``, survival at ``landmarks`` (same unit as time)."""
    for column in ("time", "event", "group"):
        if column not in data.columns:
            raise ExportInputError(f"survival export: no column {column!r}")
    frame = data[["time", "event", "group"]].copy()
    if frame.isna().any().any():
        raise ExportInputError("survival export: missing time, event or group values")
    if len(frame) == 0:
        raise ExportInputError("survival export: no patient")
    horizon = float(horizon)
    frame["group"] = frame["group"].map(safe_label)
    levels = list(dict.fromkeys(frame["group"]))
    order = [safe_label(v) for v in (order if order is not None else sorted(levels))]
    missing = [lv for lv in levels if lv not in order]
    if missing or len(set(order)) != len(order):
        raise ExportInputError(f"survival export: order must list every group once (missing {missing})")
    order = [lv for lv in order if lv in levels]
    t = frame["time"].to_numpy(float)
    e = frame["event"].astype(bool).to_numpy()
    g = frame["group"].to_numpy(str)
    q = np.asarray(landmarks, dtype=float)
    q_labels = [_label(v) for v in q]
    h_label = _label(horizon)
    out = Collector()
    notes: list[str] = []

    for lv in order:
        km = stats.kaplan_meier(t[g == lv], e[g == lv])
        p = f"km[{lv}]"
        out.put(f"{p}.n", km.n)
        out.put(f"{p}.events", km.n_events)
        out.put(f"{p}.median", km.median)
        out.put(f"{p}.median_lower", km.median_ci[0])
        out.put(f"{p}.median_upper", km.median_ci[1])
        at = km.survival_at(q)
        for k, ql in enumerate(q_labels):
            out.put(f"{p}.surv_at_{ql}", at.survival[k])
            out.put(f"{p}.surv_at_{ql}_lower", at.ci_lower[k])
            out.put(f"{p}.surv_at_{ql}_upper", at.ci_upper[k])
            out.put(f"{p}.at_risk_{ql}", at.at_risk[k])
        out.put_curve(f"{p}.curve.time", km.timeline)
        out.put_curve(f"{p}.curve.surv", km.survival)
        out.put_curve(f"{p}.curve.lower", km.ci_lower)
        out.put_curve(f"{p}.curve.upper", km.ci_upper)
    rm = stats.rmst(t, e, horizon, group=g)
    by_level = {str(r.group): r for r in rm.groups}
    for lv in order:
        r = by_level[lv]
        out.put(f"rmst_{h_label}[{lv}]", r.rmst)
        out.put(f"rmst_{h_label}[{lv}].lower", r.ci_lower)
        out.put(f"rmst_{h_label}[{lv}].upper", r.ci_upper)
    with_tests = len(order) >= 2
    with_cox = False
    if with_tests:
        lr = stats.logrank(t, e, g)
        out.put("logrank.chisq", lr.statistic)
        out.put("logrank.df", lr.df)
        out.put("logrank.p", lr.p_value)
        design = pd.DataFrame({lv: (g == lv).astype(float) for lv in order[1:]})
        try:
            fit = stats.cox(t, e, design)
        except (ValueError, np.linalg.LinAlgError) as exc:
            notes.append(f"no hazard ratio: {exc}")
        else:
            if fit.converged and stats.monotone_likelihood(t, e, g):
                notes.append("a group's hazard ratio is infinite or zero (monotone likelihood: its "
                             "patients all left before another group's first event, or the other way "
                             "round): hazard ratios are left out, R's coxph warns likewise")
            elif fit.converged:
                with_cox = True
                for term in fit.terms:
                    name = f"hr[{term.name} vs {order[0]}]"
                    out.put(name, term.hr)
                    out.put(f"{name}.lower", term.ci_lower)
                    out.put(f"{name}.upper", term.ci_upper)
                    out.put(f"{name}.p", term.p_value)
                out.put("ph.global_p", fit.proportional_hazards_test().global_p_value)
            else:
                notes.append("the Cox model did not converge (a group with very few events): "
                             "hazard ratios are left out")
    export_data = pd.DataFrame({"pid": pseudonym_ids(len(frame)), "time": t,
                                "event": e.astype(int), "group": g})
    body = _body(order, q, q_labels, horizon, h_label, with_tests, with_cox)
    title = title or f"{endpoint} by group: Kaplan–Meier, log-rank, Cox, RMST, landmarks"
    script = build_script(title=title, page="Survival", method=_METHOD, body=body)
    return AnalysisExport("survival", title, export_data, script, out.quantities(), tuple(notes))


def _body(order, q, q_labels, horizon, h_label, with_tests: bool, with_cox: bool) -> str:
    lines = [
        f"order <- {r_chr(order)}   # the first group is the reference",
        f"landmarks <- {r_num(q)}",
        f"landmark_labels <- {r_chr(q_labels)}",
        f"horizon <- {r_scalar(horizon)}",
        f"horizon_label <- {r_str(h_label)}",
        "d$group <- factor(d$group, levels = order)",
        "close_band <- function(surv, lower, upper) {",
        "  lower[surv == 1] <- 1; upper[surv == 1] <- 1",
        "  lower[surv == 0] <- 0; upper[surv == 0] <- 0",
        "  lower[is.na(lower)] <- 0; upper[is.na(upper)] <- 1",
        "  list(lower = lower, upper = upper)",
        "}",
        "# survRM2's rmst1(): area under the KM curve up to tau and its variance",
        "rmst_one <- function(time, status, tau) {",
        "  ft <- survfit(Surv(time, status) ~ 1)",
        "  idx <- ft$time <= tau",
        "  wk_time <- sort(c(ft$time[idx], tau))",
        "  wk_surv <- ft$surv[idx]",
        "  wk_n_risk <- ft$n.risk[idx]",
        "  wk_n_event <- ft$n.event[idx]",
        "  areas <- diff(c(0, wk_time)) * c(1, wk_surv)",
        "  wk_var <- ifelse((wk_n_risk - wk_n_event) == 0, 0,",
        "                   wk_n_event / (wk_n_risk * (wk_n_risk - wk_n_event)))",
        "  wk_var <- c(wk_var, 0)",
        "  c(rmst = sum(areas), se = sqrt(sum(cumsum(rev(areas[-1]))^2 * rev(wk_var)[-1])))",
        "}",
        "z <- qnorm(0.975)",
        "",
        "# ---------------------------------------------------------------- Kaplan-Meier per group",
        "for (g in order) {",
        "  s <- d[d$group == g, ]",
        "  fit <- survfit(Surv(time, event) ~ 1, data = s, conf.type = \"log-log\")",
        "  p <- sprintf(\"km[%s]\", g)",
        "  q <- quantile(fit, probs = 0.5)",
        "  put(paste0(p, \".n\"), fit$n)",
        "  put(paste0(p, \".events\"), sum(fit$n.event))",
        "  put(paste0(p, \".median\"), unname(q$quantile))",
        "  put(paste0(p, \".median_lower\"), unname(q$lower))",
        "  put(paste0(p, \".median_upper\"), unname(q$upper))",
        "  at <- summary(fit, times = landmarks, extend = TRUE)",
        "  band <- close_band(at$surv, at$lower, at$upper)",
        "  for (k in seq_along(landmarks)) {",
        "    ql <- landmark_labels[k]",
        "    put(sprintf(\"%s.surv_at_%s\", p, ql), at$surv[k])",
        "    put(sprintf(\"%s.surv_at_%s_lower\", p, ql), band$lower[k])",
        "    put(sprintf(\"%s.surv_at_%s_upper\", p, ql), band$upper[k])",
        "    put(sprintf(\"%s.at_risk_%s\", p, ql), at$n.risk[k])",
        "  }",
        "  band <- close_band(fit$surv, fit$lower, fit$upper)",
        "  put(paste0(p, \".curve.time\"), fit$time)",
        "  put(paste0(p, \".curve.surv\"), fit$surv)",
        "  put(paste0(p, \".curve.lower\"), band$lower)",
        "  put(paste0(p, \".curve.upper\"), band$upper)",
        "}",
        "",
        "# ---------------------------------------------------------------- RMST",
        "for (g in order) {",
        "  s <- d[d$group == g, ]",
        "  r <- rmst_one(s$time, s$event, horizon)",
        "  p <- sprintf(\"rmst_%s[%s]\", horizon_label, g)",
        "  put(p, r[[\"rmst\"]])",
        "  put(paste0(p, \".lower\"), r[[\"rmst\"]] - z * r[[\"se\"]])",
        "  put(paste0(p, \".upper\"), r[[\"rmst\"]] + z * r[[\"se\"]])",
        "}",
    ]
    if with_tests:
        lines += [
            "",
            "# ---------------------------------------------------------------- log-rank",
            "sd <- survdiff(Surv(time, event) ~ group, data = d)",
            "lr_df <- sum(sd$exp > 0) - 1",
            "put(\"logrank.chisq\", sd$chisq)",
            "put(\"logrank.df\", lr_df)",
            "put(\"logrank.p\", pchisq(sd$chisq, lr_df, lower.tail = FALSE))",
        ]
    if with_cox:
        lines += [
            "",
            "# ---------------------------------------------------------------- Cox (Efron), first group the reference",
            "# converged tighter than coxph's default (eps 1e-9) so that the comparison tests the",
            "# model, not where Newton-Raphson happened to stop",
            "ctl <- coxph.control(eps = 1e-12, toler.chol = 1e-14, iter.max = 50)",
            "fit <- coxph(Surv(time, event) ~ group, data = d, ties = \"efron\", control = ctl)",
            "sm <- summary(fit)",
            "for (k in seq_along(order[-1])) {",
            "  p <- sprintf(\"hr[%s vs %s]\", order[k + 1], order[1])",
            "  put(p, sm$conf.int[k, \"exp(coef)\"])",
            "  put(paste0(p, \".lower\"), sm$conf.int[k, \"lower .95\"])",
            "  put(paste0(p, \".upper\"), sm$conf.int[k, \"upper .95\"])",
            "  put(paste0(p, \".p\"), sm$coefficients[k, \"Pr(>|z|)\"])",
            "}",
            "zph <- cox.zph(fit, transform = \"km\")",
            "put(\"ph.global_p\", zph$table[\"GLOBAL\", \"p\"])",
        ]
    return "\n".join(lines)
