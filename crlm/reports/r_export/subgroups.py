"""R export of the Subgroups page: per subgroup level the hazard ratio of predicted
responders vs non-responders with the likelihood-ratio interaction test, the AUC with its
DeLong CI, and the Kaplan–Meier medians and log-rank p of the per-level panels."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from crlm import stats
from crlm.analysis.pages import PREDICTED
from crlm.reports.r_export._common import (
    AnalysisExport,
    Collector,
    ExportInputError,
    build_script,
    pseudonym_ids,
    r_chr,
    safe_label,
)


_METHOD = """\
Within each subgroup level: coxph(Surv(time, event) ~ predicted), Efron ties, Wald CI and p,
for levels with both predicted groups, at least min_events events and an event in each group.
Interaction: likelihood-ratio test of predicted + subgroup + predicted x subgroup against
predicted + subgroup (interaction terms only for levels holding both groups, the first such
level the reference). AUC per level: pROC roc(direction = "<") with ci.auc(method = "delong"),
levels with at least min_patients_auc patients and both outcomes. Kaplan-Meier per level and
predicted group (levels with at least min_patients_km patients): n, events, median;
log-rank p (survdiff) where both groups are present."""


def subgroups_export(data: pd.DataFrame, subgroups: Sequence[tuple[str, str]], *,
                     min_events: int = 5, min_patients_auc: int = 10, min_patients_km: int = 10,
                     title: str | None = None) -> AnalysisExport:
    """The Subgroups page's numbers. ``data``: one row per patient with ``time``, ``event``
    (NaN where the endpoint is unknown), ``predicted`` (0/1), ``score``, ``outcome`` (0/1,
    NaN where unknown) and one column per subgroup variable holding level names;
    ``subgroups``: (column, label) pairs in the page's order."""
    for column in ("time", "event", "predicted", "score", "outcome", *(c for c, _ in subgroups)):
        if column not in data.columns:
            raise ExportInputError(f"subgroups export: no column {column!r}")
    if len(data) == 0:
        raise ExportInputError("subgroups export: no patient")
    labels = [safe_label(label) for _, label in subgroups]
    if len(set(labels)) != len(labels):
        raise ExportInputError("subgroups export: subgroup labels must be distinct")
    frame = data.reset_index(drop=True)
    out_data = pd.DataFrame({
        "pid": pseudonym_ids(len(frame)),
        "time": pd.to_numeric(frame["time"], errors="coerce").astype(float),
        "event": pd.to_numeric(frame["event"].astype(float), errors="coerce"),
        "predicted": frame["predicted"].astype(int),
        "score": frame["score"].astype(float),
        "outcome": pd.to_numeric(frame["outcome"].astype(float), errors="coerce"),
    })
    for k, (column, _) in enumerate(subgroups, start=1):
        values = frame[column]
        if values.isna().any():
            raise ExportInputError(f"subgroups export: {column!r} has missing levels (name them)")
        out_data[f"s{k}"] = values.astype(str).map(safe_label)
    known = out_data["time"].notna().to_numpy() & out_data["event"].notna().to_numpy()
    scored = out_data["outcome"].notna().to_numpy() & out_data["score"].notna().to_numpy()
    t = out_data["time"].to_numpy(float)
    e = np.nan_to_num(out_data["event"].to_numpy(float)).astype(bool)
    g = out_data["predicted"].to_numpy(int)
    y = np.nan_to_num(out_data["outcome"].to_numpy(float)).astype(bool)
    s = out_data["score"].to_numpy(float)
    out = Collector()
    notes: list[str] = []
    sorted_levels = []
    for k, label in enumerate(labels, start=1):
        lv = out_data[f"s{k}"].to_numpy(str)
        res = stats.subgroup_effects(t[known], e[known], g[known], lv[known], min_events=min_events)
        sorted_levels.append([str(x.level) for x in res.subgroups])
        for eff in res.subgroups:
            p = f"hr[{label}={eff.level}]"
            out.put(f"{p}.n", eff.n)
            out.put(f"{p}.events", eff.events)
            if eff.estimable and not eff.converged:
                notes.append(f"{label} = {eff.level}: the Cox fit did not converge (monotone "
                             "likelihood); its hazard ratio is left out, R's coxph warns likewise")
            elif eff.estimable:
                out.put(p, eff.hr)
                out.put(f"{p}.lower", eff.ci_lower)
                out.put(f"{p}.upper", eff.ci_upper)
                out.put(f"{p}.p", eff.p_value)
        out.put(f"interaction[{label}].statistic", res.interaction_statistic)
        out.put(f"interaction[{label}].df", res.interaction_df)
        out.put(f"interaction[{label}].p", res.interaction_p_value)
        for level in dict.fromkeys(lv[scored]):
            m = scored & (lv == level)
            n, pos = int(m.sum()), int(y[m].sum())
            p = f"auc[{label}={level}]"
            out.put(f"{p}.n", n)
            out.put(f"{p}.positives", pos)
            if n >= min_patients_auc and 0 < pos < n:
                r = stats.roc(y[m], s[m])
                out.put(f"{p}.auc", r.auc)
                out.put(f"{p}.auc_lower", r.auc_ci[0])
                out.put(f"{p}.auc_upper", r.auc_ci[1])
        for level in dict.fromkeys(lv[known]):
            m = known & (lv == level)
            if m.sum() < min_patients_km:
                continue
            names = np.asarray(PREDICTED)[g[m]]
            for name in PREDICTED:
                if (names == name).any():
                    km = stats.kaplan_meier(t[m][names == name], e[m][names == name])
                    p = f"km[{label}={level}][{name}]"
                    out.put(f"{p}.n", km.n)
                    out.put(f"{p}.events", km.n_events)
                    out.put(f"{p}.median", km.median)
            if len(set(names)) == 2:
                out.put(f"logrank[{label}={level}].p", stats.logrank(t[m], e[m], names).p_value)
    body = _body(labels, sorted_levels, min_events, min_patients_auc, min_patients_km)
    title = title or "Subgroups: hazard ratios with interaction tests, AUC, Kaplan-Meier panels"
    script = build_script(title=title, page="Subgroups", method=_METHOD, body=body)
    notes.append("subgroup variables are named s1, s2, ... in data.csv; analysis.R names them")
    return AnalysisExport("subgroups", title, out_data, script, out.quantities(), tuple(notes))


def _body(labels, sorted_levels, min_events, min_patients_auc, min_patients_km) -> str:
    lines = [
        "s_cols <- grep(\"^s[0-9]+$\", names(d), value = TRUE)",
        "d <- read.csv(file.path(here, \"data.csv\"), stringsAsFactors = FALSE, check.names = FALSE,",
        "              fileEncoding = \"UTF-8\", na.strings = \"\",",
        "              colClasses = setNames(rep(\"character\", length(s_cols)), s_cols))",
        f"labels <- {r_chr(labels)}",
        "level_order <- list(",
        ",\n".join(f"  {r_chr(levels)}" for levels in sorted_levels),
        ")",
        f"predicted_names <- {r_chr(PREDICTED)}",
        f"min_events <- {int(min_events)}",
        f"min_patients_auc <- {int(min_patients_auc)}",
        f"min_patients_km <- {int(min_patients_km)}",
        "ctl <- coxph.control(eps = 1e-12, toler.chol = 1e-14, iter.max = 50)",
        "known <- !is.na(d$time) & !is.na(d$event)",
        "scored <- !is.na(d$outcome) & !is.na(d$score)",
        "for (k in seq_along(labels)) {",
        "  label <- labels[k]; lv <- level_order[[k]]; x <- d[[sprintf(\"s%d\", k)]]",
        "  # ------------------------------------------------ hazard ratio per level",
        "  dk <- d[known, ]; xk <- x[known]; code <- match(xk, lv)",
        "  both <- integer(0)",
        "  for (j in seq_along(lv)) {",
        "    m <- code == j; p <- sprintf(\"hr[%s=%s]\", label, lv[j])",
        "    put(paste0(p, \".n\"), sum(m)); put(paste0(p, \".events\"), sum(dk$event[m]))",
        "    arms <- c(sum(dk$predicted[m] == 0), sum(dk$predicted[m] == 1))",
        "    if (min(arms) == 0) next",
        "    both <- c(both, j)",
        "    ev <- c(sum(dk$event[m & dk$predicted == 0]), sum(dk$event[m & dk$predicted == 1]))",
        "    if (sum(dk$event[m]) < min_events || min(ev) == 0) next",
        "    fit <- coxph(Surv(time, event) ~ predicted, data = dk[m, ], ties = \"efron\", control = ctl)",
        "    sm <- summary(fit)",
        "    put(p, sm$conf.int[1, \"exp(coef)\"])",
        "    put(paste0(p, \".lower\"), sm$conf.int[1, \"lower .95\"])",
        "    put(paste0(p, \".upper\"), sm$conf.int[1, \"upper .95\"])",
        "    put(paste0(p, \".p\"), sm$coefficients[1, \"Pr(>|z|)\"])",
        "  }",
        "  stat <- NA_real_; df <- 0; p <- NA_real_",
        "  if (length(both) >= 2 && any(dk$event == 1)) {",
        "    ref <- both[1]",
        "    D <- do.call(cbind, lapply(setdiff(seq_along(lv), ref), function(j) as.numeric(code == j)))",
        "    I <- do.call(cbind, lapply(both[-1], function(j) dk$predicted * (code == j)))",
        "    reduced <- coxph(Surv(dk$time, dk$event) ~ cbind(dk$predicted, D), ties = \"efron\", control = ctl)",
        "    full <- coxph(Surv(dk$time, dk$event) ~ cbind(dk$predicted, D, I), ties = \"efron\", control = ctl)",
        "    df <- ncol(I)",
        "    stat <- max(2 * (full$loglik[2] - reduced$loglik[2]), 0)",
        "    p <- pchisq(stat, df, lower.tail = FALSE)",
        "  }",
        "  put(sprintf(\"interaction[%s].statistic\", label), stat)",
        "  put(sprintf(\"interaction[%s].df\", label), df)",
        "  put(sprintf(\"interaction[%s].p\", label), p)",
        "  # ------------------------------------------------ AUC per level",
        "  for (level in unique(x[scored])) {",
        "    m <- scored & x == level; y <- d$outcome[m]",
        "    p <- sprintf(\"auc[%s=%s]\", label, level)",
        "    put(paste0(p, \".n\"), sum(m)); put(paste0(p, \".positives\"), sum(y == 1))",
        "    if (sum(m) >= min_patients_auc && sum(y == 1) > 0 && sum(y == 0) > 0) {",
        "      r <- roc(y, d$score[m], levels = c(0, 1), direction = \"<\", quiet = TRUE)",
        "      ci <- ci.auc(r, method = \"delong\")",
        "      put(paste0(p, \".auc\"), as.numeric(auc(r)))",
        "      put(paste0(p, \".auc_lower\"), ci[1]); put(paste0(p, \".auc_upper\"), ci[3])",
        "    }",
        "  }",
        "  # ------------------------------------------------ Kaplan-Meier panels",
        "  for (level in unique(x[known])) {",
        "    m <- known & x == level",
        "    if (sum(m) < min_patients_km) next",
        "    part <- d[m, ]; part$group <- predicted_names[part$predicted + 1]",
        "    for (name in predicted_names) {",
        "      if (!any(part$group == name)) next",
        "      fit <- survfit(Surv(time, event) ~ 1, data = part[part$group == name, ])",
        "      p <- sprintf(\"km[%s=%s][%s]\", label, level, name)",
        "      put(paste0(p, \".n\"), fit$n); put(paste0(p, \".events\"), sum(fit$n.event))",
        "      put(paste0(p, \".median\"), unname(quantile(fit, probs = 0.5)$quantile))",
        "    }",
        "    if (length(unique(part$group)) == 2) {",
        "      sd <- survdiff(Surv(time, event) ~ group, data = part)",
        "      put(sprintf(\"logrank[%s=%s].p\", label, level),",
        "          pchisq(sd$chisq, sum(sd$exp > 0) - 1, lower.tail = FALSE))",
        "    }",
        "  }",
        "}",
    ]
    return "\n".join(lines)
