"""Figures on a 100,000-patient cohort: Kaplan–Meier with thinning vs full curves, ROC,
forest plot, and figure export (first, cold renderer vs warm).

Statistics results are computed straight from generated arrays (no store, no
Streamlit). The baseline for the Kaplan–Meier and ROC figures is the same
figure built from the full, unthinned curves (``max_points`` = every point),
and its size as JSON sent to the browser is reported in the note.
"""
from __future__ import annotations

import time

import numpy as np

from bench.common import Result, timed
from crlm import figures, stats

SEED = 20240601


def _cohort(n: int):
    rng = np.random.default_rng(SEED)
    predicted = rng.random(n) < 0.45
    ras = rng.choice(["mutant", "wild-type", "unknown"], n, p=[0.42, 0.5, 0.08])
    side = rng.choice(["right", "left", "rectum"], n, p=[0.3, 0.45, 0.25])
    t = rng.weibull(1.3, n) * np.where(predicted, 48, 34)
    c = rng.uniform(0, 140, n)
    time_months = np.round(np.minimum(t, c), 3)
    event = t <= c
    responder = rng.random(n) < 1 / (1 + np.exp(-(np.where(predicted, 0.8, -0.6))))
    score = 1 / (1 + np.exp(-(responder * 1.2 + rng.normal(0, 1.2, n))))
    fong = rng.integers(0, 6, n)
    return time_months, event, predicted, ras, side, responder, score, fong


def _km(time_months, event, predicted, max_points):
    labels = np.where(predicted, "Predicted responder", "Predicted non-responder")
    curves = stats.kaplan_meier_by(time_months, event, labels)
    p = stats.logrank(time_months, event, labels).p_value
    return figures.make_km_figure(curves, logrank_p=p, max_points=max_points)


def _roc(responder, score, fong, max_points):
    curves = {"Model": stats.roc(responder, score), "Fong score": stats.roc(responder, -fong)}
    return figures.make_roc_figure(curves, baselines=["Fong score"], max_points=max_points)


def _json_mb(fig) -> float:
    return len(fig.to_json()) / 1e6


def run(quick: bool) -> list[Result]:
    n = 20_000 if quick else 100_000
    time_months, event, predicted, ras, side, responder, score, fong = _cohort(n)
    repeat = 1 if quick else 3
    results = []

    ours, fig = timed(lambda: _km(time_months, event, predicted, 2000), repeat)
    base, full = timed(lambda: _km(time_months, event, predicted, 10 ** 9), repeat)
    ours_json, base_json = timed(lambda: fig.to_json(), repeat)[0], timed(lambda: full.to_json(), repeat)[0]
    results.append(Result("figures: Kaplan–Meier compute + build + JSON (thinned)", n,
                          ours + ours_json, base + base_json,
                          "same figure from full curves",
                          note=f"JSON {_json_mb(fig):.2f} MB vs {_json_mb(full):.2f} MB"))

    ours, fig = timed(lambda: _roc(responder, score, fong, 2000), repeat)
    base, full = timed(lambda: _roc(responder, score, fong, 10 ** 9), repeat)
    ours_json, base_json = timed(lambda: fig.to_json(), repeat)[0], timed(lambda: full.to_json(), repeat)[0]
    results.append(Result("figures: ROC compute + build + JSON (thinned)", n, ours + ours_json,
                          base + base_json, "same figure from full curves",
                          note=f"JSON {_json_mb(fig):.2f} MB vs {_json_mb(full):.2f} MB"))

    def forest():
        res = {"RAS status": stats.subgroup_effects(time_months, event, predicted, ras),
               "Primary side": stats.subgroup_effects(time_months, event, predicted, side)}
        return figures.make_forest_figure(res)

    ours, _ = timed(forest, 1)
    results.append(Result("figures: forest plot, 2 variables (Cox per level + interaction)", n, ours))

    small = _km(time_months[:2000], event[:2000], predicted[:2000], 2000)
    t0 = time.perf_counter()
    figures.export_figure(small, "png", title="Overall survival", caption="benchmark")
    first = time.perf_counter() - t0
    warm, _ = timed(lambda: figures.export_figure(small, "png", title="Overall survival",
                                                  caption="benchmark"), 3)
    results.append(Result("figures: PNG export, warm renderer vs first export", 2000, warm, first,
                          "first export of the process (starts Chromium)",
                          note="300 dpi, 7 inches wide"))
    warm_pdf, _ = timed(lambda: figures.export_figure(small, "pdf", title="t", caption="c"), 3)
    results.append(Result("figures: PDF export, warm renderer", 2000, warm_pdf))
    return results
