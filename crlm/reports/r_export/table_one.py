"""R export of the Cohort page's Table 1: medians and quartiles, counts and percentages,
missing values, Kruskal–Wallis and chi-square p-values and standardised mean differences."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from crlm.reports.r_export._common import (
    AnalysisExport,
    Collector,
    ExportInputError,
    build_script,
    pseudonym_ids,
    r_chr,
    safe_label,
)
from crlm.stats.baseline_table import _level_codes, baseline_table

_METHOD = """\
Continuous variables: median and quartiles (quantile type 7), Kruskal-Wallis p (kruskal.test).
Categorical variables: n and % of the non-missing values, Pearson's chi-square p without
continuity correction on the non-missing table (chisq.test, correct = FALSE). Missing values
counted apart and left out of the p-values. SMD: |m1 - m2| / sqrt((s1^2 + s2^2) / 2) for
continuous variables, Yang & Dalton's multi-level form for categorical ones; with more than
two groups the largest pairwise SMD that is defined."""


def table_one_export(frame: pd.DataFrame, variables: Sequence[tuple[str, str, str]],
                     by: str | None = None, *, title: str | None = None) -> AnalysisExport:
    """Table 1 of ``frame`` as the Cohort page computes it (``baseline_table``)."""
    variables = [(c, safe_label(label), kind) for c, label, kind in variables]
    labels = [label for _, label, _ in variables]
    if len(set(labels)) != len(labels):
        raise ExportInputError("Table 1 export: variable labels must be distinct")
    for column, _, _ in variables:
        if column not in frame.columns:
            raise ExportInputError(f"Table 1 export: no column {column!r}")
    if by is not None and by not in frame.columns:
        raise ExportInputError(f"Table 1 export: no grouping column {by!r}")
    if len(frame) == 0:
        raise ExportInputError("Table 1 export: no patient")
    frame = frame.reset_index(drop=True)
    data = pd.DataFrame({"pid": pseudonym_ids(len(frame))})
    names = {}
    level_order = {}
    for k, (column, label, kind) in enumerate(variables, start=1):
        name = f"v{k}"
        names[label] = name
        if kind == "continuous":
            data[name] = pd.to_numeric(frame[column], errors="coerce").astype(float)
        else:
            codes, levels = _level_codes(frame[column])
            safe = [safe_label(lv) for lv in levels]
            if len(set(safe)) != len(safe):
                raise ExportInputError(f"Table 1 export: levels of {column!r} clash once made safe")
            text = np.array(safe + [None], dtype=object)[codes]  # code -1 = missing
            data[name] = text
            level_order[label] = safe
    shown = frame.copy()
    for column, label, kind in variables:
        if kind == "categorical":
            shown[column] = data[names[label]]
    groups: list[str] = []
    if by is not None:
        g = frame[by].astype("object").where(frame[by].notna(), "unknown").astype(str).map(safe_label)
        data["group"] = g
        shown["__group__"] = g
        groups = sorted(g.unique())
    result = baseline_table(shown, [(c, label, kind) for c, label, kind in variables],
                            by="__group__" if by is not None else None)
    out = Collector()
    kinds = {label: kind for _, label, kind in variables}
    out.put("n", len(frame))
    for row in result.values.itertuples(index=False):
        level = f"={row.level}" if row.level else ""
        group = f"[{row.group}]" if row.group else ""
        out.put(f"{row.variable}{level}{group}.{row.statistic}", row.value)
    body = _body(variables, names, kinds, level_order, groups, by is not None)
    title = title or ("Table 1" + (f" by {by}" if by else ""))
    script = build_script(title=title, page="Cohort (Table 1)", method=_METHOD, body=body)
    notes = ("variables are named v1, v2, ... in data.csv; analysis.R names them",)
    return AnalysisExport("table1", title, data, script, out.quantities(), notes)


def _body(variables, names, kinds, level_order, groups, with_groups: bool) -> str:
    cat_cols = [names[label] for _, label, kind in variables if kind == "categorical"]
    lines = [
        "# categorical columns as text, exactly as written",
        f"cat_cols <- {r_chr(cat_cols)}",
        "d <- read.csv(file.path(here, \"data.csv\"), stringsAsFactors = FALSE, check.names = FALSE,",
        "              fileEncoding = \"UTF-8\", na.strings = \"\",",
        "              colClasses = setNames(rep(\"character\", length(cat_cols)), cat_cols))",
        f"groups <- {r_chr(groups)}",
        f"with_groups <- {'TRUE' if with_groups else 'FALSE'}",
        "vars <- list(",
    ]
    specs = []
    for _, label, kind in variables:
        lv = r_chr(level_order.get(label, []))
        specs.append(f"  list(label = {r_chr([label])[2:-1]}, column = {r_chr([names[label]])[2:-1]}, "
                     f"kind = \"{kind}\", levels = {lv})")
    lines.append(",\n".join(specs))
    lines += [
        ")",
        "group <- if (with_groups) d$group else rep(\"Overall\", nrow(d))",
        "largest <- function(x) { x <- x[!is.na(x)]; if (length(x)) max(x) else NA_real_ }",
        "pinv <- function(S) {",
        "  s <- svd(S); keep <- s$d > 1e-15 * max(s$d)",
        "  s$v[, keep, drop = FALSE] %*% (t(s$u[, keep, drop = FALSE]) / s$d[keep])",
        "}",
        "smd_cont <- function(a, b) {",
        "  if (length(a) < 2 || length(b) < 2) return(NA_real_)",
        "  pooled <- sqrt((var(a) + var(b)) / 2)",
        "  if (pooled > 0) abs(mean(a) - mean(b)) / pooled else 0",
        "}",
        "smd_cat <- function(pa, pb) {  # Yang & Dalton, first level dropped",
        "  if (length(pa) < 2) return(NA_real_)",
        "  if (length(pa) == 2) {",
        "    den <- sqrt((pa[2] * (1 - pa[2]) + pb[2] * (1 - pb[2])) / 2)",
        "    return(if (den > 0) abs(pa[2] - pb[2]) / den else 0)",
        "  }",
        "  t1 <- pa[-1]; c1 <- pb[-1]",
        "  S <- -(outer(t1, t1) + outer(c1, c1)) / 2",
        "  diag(S) <- (t1 * (1 - t1) + c1 * (1 - c1)) / 2",
        "  dd <- t1 - c1",
        "  sqrt(max(as.numeric(t(dd) %*% pinv(S) %*% dd), 0))",
        "}",
        "pairs <- if (length(groups) >= 2) combn(length(groups), 2, simplify = FALSE) else list()",
        "put(\"n\", nrow(d))",
        "for (v in vars) {",
        "  x <- d[[v$column]]",
        "  ok <- !is.na(x)",
        "  if (v$kind == \"continuous\") {",
        "    by_group <- lapply(groups, function(g) x[ok & group == g])",
        "    nonempty <- Filter(length, by_group)",
        "    p <- NA_real_",
        "    if (length(nonempty) >= 2 && length(unique(unlist(nonempty))) > 1)",
        "      p <- kruskal.test(nonempty)$p.value",
        "    put(paste0(v$label, \".p_value\"), p)",
        "    put(paste0(v$label, \".smd\"), largest(sapply(pairs, function(ij)",
        "      smd_cont(by_group[[ij[1]]], by_group[[ij[2]]]))))",
        "    q <- function(y) if (length(y)) quantile(y, c(0.5, 0.25, 0.75), type = 7, names = FALSE) else rep(NA_real_, 3)",
        "    for (g in c(\"Overall\", groups)) {",
        "      y <- if (g == \"Overall\") x[ok] else x[ok & group == g]",
        "      put(sprintf(\"%s[%s].%s\", v$label, g, c(\"median\", \"q1\", \"q3\")), q(y))",
        "    }",
        "  } else {",
        "    f <- factor(x, levels = v$levels)",
        "    counts <- if (length(groups)) table(factor(group[ok], levels = groups), f[ok]) else NULL",
        "    p <- NA_real_",
        "    if (!is.null(counts) && nrow(counts) >= 2 && ncol(counts) >= 2) {",
        "      tab <- counts[rowSums(counts) > 0, colSums(counts) > 0, drop = FALSE]",
        "      if (nrow(tab) >= 2 && ncol(tab) >= 2)",
        "        p <- suppressWarnings(chisq.test(tab, correct = FALSE)$p.value)",
        "    }",
        "    put(paste0(v$label, \".p_value\"), p)",
        "    props <- if (is.null(counts)) list() else",
        "      lapply(seq_len(nrow(counts)), function(i) counts[i, ] / sum(counts[i, ]))",
        "    put(paste0(v$label, \".smd\"), largest(unlist(lapply(pairs, function(ij) {",
        "      a <- props[[ij[1]]]; b <- props[[ij[2]]]",
        "      if (anyNA(a) || anyNA(b)) NULL else smd_cat(a, b)",
        "    }))))",
        "    total <- sum(ok)",
        "    for (lv in v$levels) {",
        "      n_all <- sum(x[ok] == lv)",
        "      put(sprintf(\"%s=%s[Overall].n\", v$label, lv), n_all)",
        "      put(sprintf(\"%s=%s[Overall].percent\", v$label, lv), if (total) 100 * n_all / total else NA)",
        "      for (g in groups) {",
        "        den <- sum(ok & group == g)",
        "        n_g <- sum(ok & group == g & x == lv)",
        "        put(sprintf(\"%s=%s[%s].n\", v$label, lv, g), n_g)",
        "        put(sprintf(\"%s=%s[%s].percent\", v$label, lv, g), if (den) 100 * n_g / den else NA)",
        "      }",
        "    }",
        "  }",
        "  put(sprintf(\"%s[Overall].missing\", v$label), sum(!ok))",
        "  for (g in groups) put(sprintf(\"%s[%s].missing\", v$label, g), sum(!ok & group == g))",
        "}",
    ]
    return "\n".join(lines)
