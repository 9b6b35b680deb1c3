"""Page re-render time: what a widget change costs the server on a large cohort.

Each analysis page runs under Streamlit's AppTest on a store of 20,000 (quick) or
100,000 synthetic patients with a response model and the clinical baselines.

* **New filter** (what a board member does): the sidebar's age range is set to a
  range never drawn before in this process, so nothing is cached for it; timed is
  the page's full re-run (queries, statistics, figures). The baseline column is
  the same page re-run on a filter already drawn (a cache hit), to show how much
  of the new-filter time is the uncached work.
* **Page widget change**: one of the page's own widgets alternated between two
  values already drawn (cached), against the same re-run with every cached result
  dropped first.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench.common import Result, timed

ROOT = Path(__file__).resolve().parents[1]

# page, widget key, the two values the benchmark alternates between
CHANGES = [
    ("views/cohort.py", "cohort_split_by", ("ras_status", "primary_side")),
    ("views/models.py", "models_split", ("external", "out-of-fold")),
    ("views/survival.py", "survival_endpoint", ("PFS", "OS")),
    ("views/subgroups.py", "subgroups_endpoint", ("PFS", "OS")),
]


def _build(path: Path, n: int) -> None:
    from crlm.cli import main

    assert main(["--db", str(path), "-q", "demo", "--patients", str(n), "--seed", "7",
                 "--no-train", "--no-imaging"]) == 0
    assert main(["--db", str(path), "-q", "train", "--folds", "3", "--fast",
                 "--task", "response", "--family", "logistic", "--family", "fong_score",
                 "--family", "tumour_burden_score", "--family", "cea_ng_ml"]) == 0


def _page(path: Path, page: str):
    from streamlit.testing.v1 import AppTest

    os.environ["CRLM_DB"] = str(path)
    os.environ["CRLM_DEMO_MODE"] = "1"
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
    at.switch_page(page).run()
    if at.exception:
        raise RuntimeError(f"{page} failed: {at.exception}")
    return at


def run(quick: bool) -> list[Result]:
    import streamlit as st

    from crlm.ui import loaders

    n = 20_000 if quick else 100_000
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pages.duckdb"
        _build(path, n)
        for page, key, values in CHANGES:
            at = _page(path, page)
            state = {"i": 0}

            def change(clear: bool = False):
                state["i"] += 1
                if clear:
                    st.cache_data.clear()
                at.selectbox(key=key).set_value(values[state["i"] % 2]).run()
                if at.exception:
                    raise RuntimeError(f"{page} failed: {at.exception}")

            ages = iter((20 + k, 95 - k) for k in range(100))  # never drawn before

            def new_filter(again: bool = False):
                if not again:
                    state["age"] = next(ages)
                at.slider(key="flt_age").set_value(state["age"]).run()
                if at.exception:
                    raise RuntimeError(f"{page} failed: {at.exception}")

            new, _ = timed(new_filter, repeat=3)
            hit, _ = timed(lambda: new_filter(again=True), repeat=3)
            results.append(Result(f"page re-run: {Path(page).stem}, new age range", n, new, hit,
                                  "the same filter drawn again (cached)",
                                  note="server time incl. AppTest overhead; goal < 0.3 s at "
                                       "10^5"))
            at.slider(key="flt_age").set_value((18, 100)).run()
            change()
            change()  # both values drawn once: their queries are cached
            warm, _ = timed(change, repeat=4)
            cold, _ = timed(lambda: change(clear=True), repeat=2)
            results.append(Result(f"page re-run: {Path(page).stem}, change {key}", n, warm,
                                  cold, "same re-run with cached query results dropped",
                                  note="server time incl. AppTest overhead; goal well under 1 s"))
        loaders.release_stores()
    return results
