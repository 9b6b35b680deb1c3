"""crlm.stats speed: the survival + discrimination bundle a page computes on one filter change.

Bundle = Kaplan–Meier by group (2 groups) + log-rank + one-covariate Cox
(Efron, with concordance) + ROC with DeLong AUC CI, on the same rows.

Baseline: R ``survival`` + ``pROC`` on the same rows in the same run:
``survfit(Surv(t, e) ~ g, conf.type = "log-log")``, ``survdiff(Surv(t, e) ~ g)``,
``coxph(Surv(t, e) ~ x, ties = "efron")`` (its concordance is always computed)
and ``ci.auc(roc(y, s, direction = "<"), method = "delong")``. The rows go to
Rscript as a binary file; R's clock (``proc.time()``) is read inside Rscript
around the calls only, so R start-up, package loading and reading the file
are not timed. Both sides report the best of the same number of repeats, in
wall time (the ratio) and in CPU time (user + system, in the note: on a
machine shared with other jobs the CPU ratio moves less).
Without Rscript (or without survival/pROC) the bundle rows have no baseline.

The paired DeLong test is compared with a scikit-learn bootstrap of the AUC
difference, timed on at most 10^6 / n resamples (at least 10) and scaled to
1,000 (stated in the note).
"""
from __future__ import annotations

import gc
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import Result, peak_memory_mb, timed
from crlm import stats

SEED = 20240601
BOOT = 1000
REPEAT = 3
R_BASELINE = "R survival (survfit/survdiff/coxph) + pROC (roc, ci.auc DeLong)"

# Each piece is timed alone, best of `repeat`, with R's own clock around the call.
_R_SCRIPT = r"""
suppressMessages({library(survival); library(pROC)})
args <- commandArgs(TRUE)
path <- args[1]; n <- as.integer(args[2]); repeat_n <- as.integer(args[3])
con <- file(path, "rb"); m <- readBin(con, "double", n * 6); close(con)
m <- matrix(m, ncol = 6)
d <- data.frame(t = m[, 1], e = m[, 2], g = m[, 3], x = m[, 4])
y <- m[, 5]; s <- m[, 6]
best <- function(f) {  # best wall and best CPU (user + system) seconds
  b <- c(Inf, Inf)
  for (i in seq_len(repeat_n)) {
    invisible(gc())
    t0 <- proc.time()
    f()
    dt <- proc.time() - t0
    b <- pmin(b, c(dt[["elapsed"]], dt[["user.self"]] + dt[["sys.self"]]))
  }
  b
}
km <- best(function() survfit(Surv(t, e) ~ g, data = d, conf.type = "log-log"))
lr <- best(function() survdiff(Surv(t, e) ~ g, data = d))
cx <- best(function() coxph(Surv(t, e) ~ x, data = d, ties = "efron")$concordance)
rc <- best(function() ci.auc(roc(y, s, direction = "<", levels = c(0, 1), quiet = TRUE),
                             method = "delong"))
cat(sprintf("%.6f", c(km, lr, cx, rc)), "\n")
"""

PIECES = ("kaplan_meier_by (2 groups)", "logrank", "cox (1 covariate, Efron, C)", "roc (DeLong CI)")


def _cohort(n: int, seed: int = SEED):
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 2, n)
    marker = rng.normal(size=n)
    os_months = rng.exponential(40 / np.exp(0.4 * group + 0.3 * marker))
    censor_months = rng.uniform(6, 120, n)
    os_event = os_months <= censor_months
    os_months = np.round(np.minimum(os_months, censor_months), 2)
    responder = rng.random(n) < 1 / (1 + np.exp(-(marker - 0.3)))
    score = marker + rng.normal(scale=1.0, size=n)
    score_b = marker + rng.normal(scale=1.5, size=n)
    return os_months, os_event, group, marker, responder, score, score_b


def _pieces(d):
    t, e, g, x, y, s, _ = d
    return [
        lambda: stats.kaplan_meier_by(t, e, g),
        lambda: stats.logrank(t, e, g),
        lambda: stats.cox(t, e, x).concordance,  # read, so counted
        lambda: stats.roc(y, s),
    ]


def _ours(d):
    for fn in _pieces(d):
        fn()


def _r_available() -> str | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    ok = subprocess.run([rscript, "-e", "library(survival); library(pROC)"],
                        capture_output=True, check=False)
    return rscript if ok.returncode == 0 else None


def _best(fn, repeat: int) -> tuple[float, float]:
    """Best wall and best CPU (user + system, all threads) seconds of ``repeat`` calls."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        gc.collect()
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - w0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def _r_times(rscript: str, d, repeat: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds per piece measured inside Rscript (best of ``repeat``)."""
    t, e, g, x, y, s, _ = d
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "rows.bin"
        script = Path(tmp) / "bundle.R"
        # column-major: R's matrix(..., ncol = 6) reads it back column by column
        np.concatenate([np.asarray(a, dtype=np.float64) for a in (t, e, g, x, y, s)]).tofile(data)
        script.write_text(_R_SCRIPT)
        out = subprocess.run([rscript, str(script), str(data), str(len(t)), str(repeat)],
                             capture_output=True, text=True, check=True)
    v = [float(x) for x in out.stdout.split()[-8:]]
    return [(v[2 * k], v[2 * k + 1]) for k in range(4)]


def _bootstrap_difference(d, boot: int, seed: int = SEED):
    from sklearn.metrics import roc_auc_score

    _, _, _, _, y, s, sb = d
    rng = np.random.default_rng(seed)
    for _ in range(boot):
        idx = rng.integers(0, len(y), len(y))
        roc_auc_score(y[idx], s[idx]) - roc_auc_score(y[idx], sb[idx])


def run(quick: bool) -> list[Result]:
    sizes = [10_000] if quick else [10_000, 100_000, 1_000_000]
    warm = _cohort(500)
    _ours(warm)  # compiles the numba kernels once (cached on disk afterwards)
    stats.delong_test(warm[4], warm[5], warm[6])
    rscript = _r_available()
    rows: list[Result] = []
    for n in sizes:
        d = _cohort(n)
        ours = [_best(fn, REPEAT) for fn in _pieces(d)]
        ours_s, ours_cpu = sum(w for w, _ in ours), sum(c for _, c in ours)
        peak = peak_memory_mb(lambda: _ours(d))
        r = _r_times(rscript, d, REPEAT) if rscript else None
        if r:
            r_s, r_cpu = sum(w for w, _ in r), sum(c for _, c in r)
            note = (f"wall, sum of the pieces, best of {REPEAT} each; R timed inside Rscript "
                    f"around the calls; CPU s ours {ours_cpu:.3f}, R {r_cpu:.3f} "
                    f"({r_cpu / ours_cpu:.1f}x)")
        else:
            r_s, note = None, "Rscript with survival and pROC not found: no baseline"
        rows.append(Result("stats: KM by group+logrank+Cox(C)+ROC/DeLong", n, ours_s, r_s,
                           R_BASELINE if r else "", peak, note))
        for k, name in enumerate(PIECES):
            rows.append(Result(f"stats: {name}", n, ours[k][0], r[k][0] if r else None,
                               "R, same rows" if r else "",
                               note=f"CPU s ours {ours[k][1]:.4f}, R {r[k][1]:.3f}" if r else ""))
        dl_s, _ = timed(lambda: stats.delong_test(d[4], d[5], d[6]), repeat=REPEAT)
        dboot = max(10, min(BOOT, 1_000_000 // n))
        db_s, _ = timed(lambda: _bootstrap_difference(d, dboot), repeat=1)
        rows.append(Result("stats: delong_test (paired)", n, dl_s, db_s * BOOT / dboot,
                           "sklearn paired bootstrap of the AUC difference",
                           peak_memory_mb(lambda: stats.delong_test(d[4], d[5], d[6])),
                           f"bootstrap timed on {dboot} resamples, scaled to {BOOT}"
                           if dboot < BOOT else f"bootstrap {BOOT} resamples"))
    return rows
