"""Calibration of the Score page's absolute survival on a store's demo cohort.

For each survival model: the development patients' out-of-fold predictions are split at
random in halves (seed 20240601, as in ``tests/unit/test_case_answers.py``), one to
calibrate, the other held out; printed are the mean predicted S against the held-out
Kaplan–Meier at 1, 3 and 5 years, and at 3 years per quarter of held-out risk; then the
share of ``--splits`` further random halvings in which the test's rule (every difference
within 2.5 Kaplan–Meier standard errors + 0.02) fails and the mean difference (predicted
minus Kaplan–Meier) in the highest quarter over them, and the same comparison at the
external centre, calibrated on all out-of-fold predictions.

    .venv/bin/python scripts/absolute_calibration.py --db crlm.duckdb [--splits 200]
        [--knots auto|0|3|4|5] [--models os_risk.cox ...]
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np

from crlm import stats, store
from crlm.models.score_scale import SUMMED_HAZARD_FAMILIES, per_event_time
from crlm.models.tasks import TASKS
from crlm.stats.prediction import risk_survival_calibration

HORIZONS = [12.0, 36.0, 60.0]
SPLIT_SEED = 20240601


def _check(cal, r, t, e):
    pred = np.array([cal.curve(x, HORIZONS) for x in r])
    km = stats.kaplan_meier(t, e).survival_at(HORIZONS)
    ok = bool(np.all(np.abs(pred.mean(0) - km.survival) <= 2.5 * km.survival_std_err + 0.02))
    quarters = np.clip(np.searchsorted(np.quantile(r, [0.25, 0.5, 0.75]), r, side="right"), 0, 3)
    per_q = []
    for q in range(4):
        m = quarters == q
        g = stats.kaplan_meier(t[m], e[m]).survival_at([36.0])
        per_q.append((pred[m, 1].mean(), g.survival[0]))
        ok &= bool(abs(per_q[-1][0] - g.survival[0]) <= 2.5 * g.survival_std_err[0] + 0.02)
    return pred.mean(0), km.survival, per_q, ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--cohort", default="demo")
    ap.add_argument("--splits", type=int, default=200)
    ap.add_argument("--knots", default="auto", help="'auto' (the events rule) or 0, 3, 4, 5")
    ap.add_argument("--models", nargs="*", help="model ids (default: every OS / PFS model)")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    st = store.Store(args.db)
    models = store.load_models(st, cohort=args.cohort)
    models = models[models["task"].isin(["os_risk", "pfs_risk"])]
    if args.models:
        models = models[models["model_id"].isin(args.models)]
    knots = args.knots if args.knots == "auto" else int(args.knots)
    for rec in models.sort_values("model_id").to_dict("records"):
        task = TASKS[rec["task"]]
        preds = store.load_predictions(st, store.CohortFilter(cohort=args.cohort),
                                       task=task.name, model_id=rec["model_id"],
                                       split=["out-of-fold", "external"],
                                       columns=[task.time_column, task.event_column])
        preds = preds.dropna(subset=["score", task.time_column, task.event_column])
        preds = preds[preds[task.time_column] > 0]
        oof, ext = preds[preds["split"] == "out-of-fold"], preds[preds["split"] == "external"]
        r = oof["score"].to_numpy(float)
        t = oof[task.time_column].to_numpy(float)
        e = oof[task.event_column].astype(bool).to_numpy()
        factor = 1.0
        if rec["family"] in SUMMED_HAZARD_FAMILIES:
            r, factor = per_event_time(r, oof["fold"], t, e)
        fails, line, top = 0, "", []
        for seed in [SPLIT_SEED] + list(range(args.splits)):
            idx = np.random.default_rng(seed).permutation(len(r))
            cal_idx, test_idx = idx[: len(r) // 2], idx[len(r) // 2:]
            cal = risk_survival_calibration(r[cal_idx], t[cal_idx], e[cal_idx], n_boot=0,
                                            knots=knots)
            mean, km, per_q, ok = _check(cal, r[test_idx], t[test_idx], e[test_idx])
            if seed == SPLIT_SEED and not line:
                line = (" / ".join(f"{a:.2f} vs {b:.2f}" for a, b in zip(mean, km))
                        + " | 3 y by quarter " + " ".join(f"{a:.2f}/{b:.2f}" for a, b in per_q)
                        + (" | pass" if ok else " | FAIL"))
            else:
                fails += not ok
                top.append(per_q[3][0] - per_q[3][1])
        cal = risk_survival_calibration(r, t, e, n_boot=0, knots=knots)
        re = ext["score"].to_numpy(float) * factor
        te = ext[task.time_column].to_numpy(float)
        ee = ext[task.event_column].astype(bool).to_numpy()
        external = ""
        if len(re):
            pred = np.array([cal.curve(x, HORIZONS) for x in re]).mean(0)
            km = stats.kaplan_meier(te, ee).survival_at(HORIZONS).survival
            external = " / ".join(f"{a:.2f} vs {b:.2f}" for a, b in zip(pred, km))
        print(f"{rec['model_id']}: knots {len(cal.knots)} | held out {line} | "
              f"fails {fails}/{args.splits} random halvings, highest quarter at 3 y "
              f"{np.nanmean(top):+.3f} on average | external {external}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
