"""R export of the Models page: ROC curves with DeLong CIs, paired DeLong tests against
the reference, sensitivity/specificity/PPV/NPV at each model's threshold, and for
probability models the Brier score, calibration (bins, slope, intercept) and the
decision curve."""
from __future__ import annotations

import math
from dataclasses import dataclass
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

NET_BENEFIT_THRESHOLDS = np.round(np.arange(0.01, 0.96, 0.01), 2)
CALIBRATION_BINS = 10

_METHOD = """\
ROC: pROC::roc(direction = "<"), AUC with ci.auc(method = "delong"), the whole curve
from coords(). Paired DeLong test: roc.test(method = "delong", paired = TRUE) on the
patients both models scored. Sensitivity, specificity, PPV and NPV at each model's
threshold (positive when score >= threshold). Probability models: Brier score; calibration
in equal-count bins (quantile type 7) with Wilson 95% CIs (prop.test, correct = FALSE);
calibration slope and intercept from glm(binomial) with Wald CIs (logit of p clipped to
[1e-12, 1 - 1e-12]); net benefit (Vickers & Elkin), treated when p >= threshold."""


@dataclass(frozen=True)
class ModelScores:
    """One model's scores for the export's patients (NaN where it did not score).

    ``threshold``: the page's threshold for the metrics (None: no metrics);
    ``probability``: the scores are probabilities (calibration and Brier apply).
    """

    name: str
    scores: np.ndarray
    threshold: float | None = None
    probability: bool = False


def models_export(outcome, models: Sequence[ModelScores], *, reference: str | None = None,
                  chosen: str | None = None, bins: int = CALIBRATION_BINS,
                  net_benefit_thresholds: Sequence[float] = NET_BENEFIT_THRESHOLDS,
                  title: str | None = None) -> AnalysisExport:
    """The Models page's numbers for one prediction split.

    ``outcome``: 0/1 per patient (NaN: unknown); ``models``: the models shown, scores
    aligned with ``outcome``; ``reference``: the model the DeLong p-values compare
    against; ``chosen``: the model whose calibration and decision curve the page shows.
    """
    y_all = pd.to_numeric(pd.Series(np.asarray(outcome, dtype=float)), errors="coerce").to_numpy()
    n = len(y_all)
    if n == 0:
        raise ExportInputError("models export: no patient")
    if not np.isin(y_all[~np.isnan(y_all)], (0.0, 1.0)).all():
        raise ExportInputError("models export: the outcome must be 0/1")
    names = [safe_label(m.name) for m in models]
    if len(set(names)) != len(names) or any(nm in ("pid", "outcome") for nm in names):
        raise ExportInputError("models export: model names must be distinct (and not pid or outcome)")
    scores = {}
    for nm, m in zip(names, models):
        s = np.asarray(m.scores, dtype=float)
        if s.shape != (n,):
            raise ExportInputError(f"models export: {m.name!r} has {s.shape[0]} scores for {n} patients")
        scores[nm] = s
    by_name = dict(zip(names, models))
    reference = safe_label(reference) if reference is not None else None
    chosen = safe_label(chosen) if chosen is not None else None
    out = Collector()
    roc_models, metric_models, prob_models = [], [], []
    for nm in names:
        ok = ~np.isnan(y_all) & ~np.isnan(scores[nm])
        y, s = y_all[ok].astype(bool), scores[nm][ok]
        if not 0 < y.sum() < len(y):
            continue
        roc_models.append(nm)
        r = stats.roc(y, s)
        p = f"roc[{nm}]"
        out.put(f"{p}.n", r.n)
        out.put(f"{p}.positives", r.n_positive)
        out.put(f"{p}.auc", r.auc)
        out.put(f"{p}.auc_lower", r.auc_ci[0])
        out.put(f"{p}.auc_upper", r.auc_ci[1])
        out.put_curve(f"{p}.curve.threshold", r.thresholds)
        out.put_curve(f"{p}.curve.tpr", r.tpr)
        out.put_curve(f"{p}.curve.fpr", r.fpr)
        threshold = by_name[nm].threshold
        if threshold is not None and math.isfinite(float(threshold)):
            metric_models.append(nm)
            m = stats.diagnostic_metrics(y, s, float(threshold))
            for key in ("sensitivity", "specificity", "ppv", "npv"):
                out.put(f"at_threshold[{nm}].{key}", getattr(m, key))
        if by_name[nm].probability:
            prob_models.append(nm)
            cal = stats.calibration(y, s, bins=bins)
            out.put(f"calibration[{nm}].brier", cal.brier)
            out.put(f"calibration[{nm}].slope", cal.slope)
    delong_models = []
    if reference is not None and reference in scores:
        for nm in names:
            if nm == reference:
                continue
            ok = ~np.isnan(y_all) & ~np.isnan(scores[nm]) & ~np.isnan(scores[reference])
            y = y_all[ok].astype(bool)
            if y.sum() >= 2 and (~y).sum() >= 2:
                delong_models.append(nm)
                t = stats.delong_test(y, scores[nm][ok], scores[reference][ok])
                out.put(f"delong[{nm} vs {reference}].z", t.z)
                out.put(f"delong[{nm} vs {reference}].p", t.p_value)
    with_chosen = chosen is not None and chosen in prob_models
    pt = np.asarray(net_benefit_thresholds, dtype=float)
    if with_chosen:
        ok = ~np.isnan(y_all) & ~np.isnan(scores[chosen])
        y, s = y_all[ok].astype(bool), scores[chosen][ok]
        cal = stats.calibration(y, s, bins=bins)
        p = f"calibration[{chosen}]"
        out.put(f"{p}.bins", len(cal.count))
        out.put_curve(f"{p}.bin.mean_predicted", cal.mean_predicted)
        out.put_curve(f"{p}.bin.observed", cal.observed)
        out.put_curve(f"{p}.bin.observed_lower", cal.observed_ci_lower)
        out.put_curve(f"{p}.bin.observed_upper", cal.observed_ci_upper)
        out.put_curve(f"{p}.bin.count", cal.count)
        out.put(f"{p}.slope_lower", cal.slope_ci[0])
        out.put(f"{p}.slope_upper", cal.slope_ci[1])
        out.put(f"{p}.intercept", cal.intercept)
        out.put(f"{p}.intercept_lower", cal.intercept_ci[0])
        out.put(f"{p}.intercept_upper", cal.intercept_ci[1])
        nb = stats.net_benefit(y, s, pt)
        out.put_curve(f"net_benefit[{chosen}].model", nb.model)
        out.put_curve(f"net_benefit[{chosen}].treat_all", nb.treat_all)
    data = pd.DataFrame({"pid": pseudonym_ids(n), "outcome": y_all})
    for nm in names:
        data[nm] = scores[nm]
    body = _body(names, roc_models, metric_models, prob_models, delong_models, reference,
                 chosen if with_chosen else None, {nm: by_name[nm].threshold for nm in metric_models},
                 bins, pt)
    title = title or "Models: ROC, DeLong, metrics at the threshold, calibration, decision curve"
    script = build_script(title=title, page="Models", method=_METHOD, body=body)
    return AnalysisExport("models", title, data, script, out.quantities())


def _body(names, roc_models, metric_models, prob_models, delong_models, reference, chosen,
          thresholds, bins, pt) -> str:
    lines = [
        f"roc_models <- {r_chr(roc_models)}",
        f"metric_models <- {r_chr(metric_models)}",
        f"thresholds <- {r_num([thresholds[m] for m in metric_models])}",
        f"prob_models <- {r_chr(prob_models)}",
        f"delong_models <- {r_chr(delong_models)}",
        f"reference <- {r_chr([reference] if reference else [])}",
        f"chosen <- {r_chr([chosen] if chosen else [])}",
        f"bins <- {int(bins)}",
        f"nb_thresholds <- {r_num(pt)}",
        "pick <- function(...) {  # the patients with the outcome and every named score",
        "  ok <- !is.na(d$outcome)",
        "  for (m in c(...)) ok <- ok & !is.na(d[[m]])",
        "  ok",
        "}",
        "logit <- function(p) qlogis(pmin(pmax(p, 1e-12), 1 - 1e-12))",
        "glm_ctl <- glm.control(epsilon = 1e-14, maxit = 100)",
        "z <- qnorm(0.975)",
        "",
        "# ---------------------------------------------------------------- ROC and DeLong CI",
        "for (m in roc_models) {",
        "  ok <- pick(m)",
        "  y <- d$outcome[ok]; s <- d[[m]][ok]",
        "  r <- roc(y, s, levels = c(0, 1), direction = \"<\", quiet = TRUE)",
        "  ci <- ci.auc(r, method = \"delong\")",
        "  p <- sprintf(\"roc[%s]\", m)",
        "  put(paste0(p, \".n\"), length(y))",
        "  put(paste0(p, \".positives\"), sum(y == 1))",
        "  put(paste0(p, \".auc\"), as.numeric(auc(r)))",
        "  put(paste0(p, \".auc_lower\"), ci[1])",
        "  put(paste0(p, \".auc_upper\"), ci[3])",
        "  all <- coords(r, x = \"all\", ret = c(\"threshold\", \"sensitivity\", \"specificity\"),",
        "                transpose = FALSE)",
        "  # pROC lists thresholds ascending, the page descending",
        "  put(paste0(p, \".curve.threshold\"), rev(all$threshold))",
        "  put(paste0(p, \".curve.tpr\"), rev(all$sensitivity))",
        "  put(paste0(p, \".curve.fpr\"), rev(1 - all$specificity))",
        "}",
        "",
        "# ---------------------------------------------------------------- metrics at each model's threshold",
        "for (k in seq_along(metric_models)) {",
        "  m <- metric_models[k]",
        "  ok <- pick(m)",
        "  y <- d$outcome[ok] == 1; pos <- d[[m]][ok] >= thresholds[k]",
        "  p <- sprintf(\"at_threshold[%s]\", m)",
        "  put(paste0(p, \".sensitivity\"), sum(pos & y) / sum(y))",
        "  put(paste0(p, \".specificity\"), sum(!pos & !y) / sum(!y))",
        "  put(paste0(p, \".ppv\"), if (sum(pos)) sum(pos & y) / sum(pos) else NA)",
        "  put(paste0(p, \".npv\"), if (sum(!pos)) sum(!pos & !y) / sum(!pos) else NA)",
        "}",
        "",
        "# ---------------------------------------------------------------- Brier score and calibration slope",
        "for (m in prob_models) {",
        "  ok <- pick(m)",
        "  y <- d$outcome[ok]; pr <- d[[m]][ok]",
        "  put(sprintf(\"calibration[%s].brier\", m), mean((pr - y)^2))",
        "  fit <- glm(y ~ logit(pr), family = binomial, control = glm_ctl)",
        "  put(sprintf(\"calibration[%s].slope\", m), coef(fit)[2])",
        "}",
        "",
        "# ---------------------------------------------------------------- paired DeLong tests",
        "for (m in delong_models) {",
        "  ok <- pick(m, reference)",
        "  y <- d$outcome[ok]",
        "  ra <- roc(y, d[[m]][ok], levels = c(0, 1), direction = \"<\", quiet = TRUE)",
        "  rb <- roc(y, d[[reference]][ok], levels = c(0, 1), direction = \"<\", quiet = TRUE)",
        "  t <- roc.test(ra, rb, method = \"delong\", paired = TRUE)",
        "  p <- sprintf(\"delong[%s vs %s]\", m, reference)",
        "  put(paste0(p, \".z\"), unname(t$statistic))",
        "  put(paste0(p, \".p\"), t$p.value)",
        "}",
    ]
    if chosen:
        lines += [
            "",
            "# ---------------------------------------------------------------- calibration and decision curve of the chosen model",
            "m <- chosen",
            "ok <- pick(m)",
            "y <- d$outcome[ok]; pr <- d[[m]][ok]",
            "edges <- unique(quantile(pr, seq(0, 1, length.out = bins + 1), type = 7, names = FALSE))",
            "if (length(edges) == 1) edges <- c(edges, edges)",
            "k <- length(edges) - 1",
            "bin <- pmin(pmax(findInterval(pr, edges), 1), k)",
            "count <- tabulate(bin, nbins = k)",
            "events <- tabulate(bin[y == 1], nbins = k)",
            "mean_pred <- sapply(seq_len(k), function(b) mean(pr[bin == b]))",
            "keep <- count > 0",
            "wilson <- t(sapply(which(keep), function(b)",
            "  suppressWarnings(prop.test(events[b], count[b], correct = FALSE)$conf.int)))",
            "p <- sprintf(\"calibration[%s]\", m)",
            "put(paste0(p, \".bins\"), sum(keep))",
            "put(paste0(p, \".bin.mean_predicted\"), mean_pred[keep])",
            "put(paste0(p, \".bin.observed\"), events[keep] / count[keep])",
            "put(paste0(p, \".bin.observed_lower\"), wilson[, 1])",
            "put(paste0(p, \".bin.observed_upper\"), wilson[, 2])",
            "put(paste0(p, \".bin.count\"), count[keep])",
            "slope <- glm(y ~ logit(pr), family = binomial, control = glm_ctl)",
            "se <- sqrt(diag(vcov(slope)))[2]",
            "put(paste0(p, \".slope_lower\"), coef(slope)[2] - z * se)",
            "put(paste0(p, \".slope_upper\"), coef(slope)[2] + z * se)",
            "citl <- glm(y ~ 1 + offset(logit(pr)), family = binomial, control = glm_ctl)",
            "se <- sqrt(vcov(citl)[1, 1])",
            "put(paste0(p, \".intercept\"), coef(citl)[1])",
            "put(paste0(p, \".intercept_lower\"), coef(citl)[1] - z * se)",
            "put(paste0(p, \".intercept_upper\"), coef(citl)[1] + z * se)",
            "n <- length(y); odds <- nb_thresholds / (1 - nb_thresholds)",
            "tp <- sapply(nb_thresholds, function(pt) sum(pr >= pt & y == 1))",
            "fp <- sapply(nb_thresholds, function(pt) sum(pr >= pt & y == 0))",
            "put(sprintf(\"net_benefit[%s].model\", m), tp / n - fp / n * odds)",
            "put(sprintf(\"net_benefit[%s].treat_all\", m), mean(y) - (1 - mean(y)) * odds)",
        ]
    return "\n".join(lines)
