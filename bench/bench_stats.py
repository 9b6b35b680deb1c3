"""crlm.stats speed: the survival + discrimination bundle a page computes on one filter change.

Bundle = Kaplan–Meier + log-rank (2 groups) + one-covariate Cox (Efron, with
concordance) + ROC with DeLong AUC CI. Baseline, same process and data:
lifelines KaplanMeierFitter + logrank_test + CoxPHFitter on a pandas frame,
scikit-learn roc_auc_score + a 1,000-resample bootstrap AUC CI.

At large n the bootstrap baseline runs fewer resamples and its time is scaled
to 1,000 (stated in the note); its other parts run in full once.
"""
from __future__ import annotations

import numpy as np

from bench.common import Result, peak_memory_mb, timed
from crlm import stats

SEED = 20240601
BOOT = 1000


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


def _ours(d):
    t, e, g, x, y, s, _ = d
    stats.kaplan_meier(t, e)
    stats.logrank(t, e, g)
    stats.cox(t, e, x)
    stats.roc(y, s)


def _baseline(d, boot: int, seed: int = SEED):
    import pandas as pd
    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.statistics import logrank_test
    from sklearn.metrics import roc_auc_score

    t, e, g, x, y, s, _ = d
    KaplanMeierFitter().fit(t, e)
    logrank_test(t[g == 0], t[g == 1], e[g == 0], e[g == 1])
    CoxPHFitter().fit(pd.DataFrame({"T": t, "E": e, "marker": x}), "T", "E")
    roc_auc_score(y, s)
    rng = np.random.default_rng(seed)
    n = len(y)
    for _ in range(boot):
        idx = rng.integers(0, n, n)
        roc_auc_score(y[idx], s[idx])


def _bootstrap_only(d, boot: int, seed: int = SEED):
    from sklearn.metrics import roc_auc_score

    _, _, _, _, y, s, _ = d
    rng = np.random.default_rng(seed)
    for _ in range(boot):
        idx = rng.integers(0, len(y), len(y))
        roc_auc_score(y[idx], s[idx])


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
    rows: list[Result] = []
    for n in sizes:
        d = _cohort(n)
        ours_s, _ = timed(lambda: _ours(d), repeat=3)
        peak = peak_memory_mb(lambda: _ours(d))
        boot = BOOT if n <= 10_000 else max(10, BOOT * 10_000 // n)
        if boot == BOOT:
            base_s, _ = timed(lambda: _baseline(d, BOOT), repeat=1)
            note = f"bootstrap {BOOT} resamples"
        else:
            rest_s, _ = timed(lambda: _baseline(d, 0), repeat=1)
            boot_s, _ = timed(lambda: _bootstrap_only(d, boot), repeat=1)
            base_s = rest_s + boot_s * BOOT / boot
            note = f"bootstrap timed on {boot} resamples, scaled to {BOOT}"
        rows.append(Result("stats: KM+logrank+Cox+ROC/DeLong", n, ours_s, base_s,
                           "lifelines KM/logrank/CoxPH + sklearn AUC bootstrap", peak, note))
        for name, fn in [
            ("stats: kaplan_meier", lambda: stats.kaplan_meier(d[0], d[1])),
            ("stats: logrank", lambda: stats.logrank(d[0], d[1], d[2])),
            ("stats: cox (1 covariate, Efron)", lambda: stats.cox(d[0], d[1], d[3])),
            ("stats: roc (DeLong CI)", lambda: stats.roc(d[4], d[5])),
        ]:
            s, _ = timed(fn, repeat=3)
            rows.append(Result(name, n, s))
        dl_s, _ = timed(lambda: stats.delong_test(d[4], d[5], d[6]), repeat=3)
        dboot = max(10, BOOT * 10_000 // n)
        db_s, _ = timed(lambda: _bootstrap_difference(d, dboot), repeat=1)
        rows.append(Result("stats: delong_test (paired)", n, dl_s, db_s * BOOT / dboot,
                           "sklearn paired bootstrap of the AUC difference",
                           peak_memory_mb(lambda: stats.delong_test(d[4], d[5], d[6])),
                           f"bootstrap timed on {dboot} resamples, scaled to {BOOT}"
                           if dboot < BOOT else f"bootstrap {BOOT} resamples"))
    return rows
