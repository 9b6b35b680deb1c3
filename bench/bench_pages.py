"""Page re-render time: what a widget change costs the server on a large cohort.

Each analysis page runs under Streamlit's AppTest on a store of 20,000 (quick) or
100,000 synthetic patients with a response model and the clinical baselines. The
timing is one widget change and the page's full re-run (queries, statistics,
figures), with the page's cached query results warm, as a board member meets it;
the baseline is the same re-run with every cached result dropped first (what a
page would cost without ``st.cache_data``).
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

            change()
            change()  # both values drawn once: their queries are cached
            warm, _ = timed(change, repeat=4)
            cold, _ = timed(lambda: change(clear=True), repeat=2)
            results.append(Result(f"page re-run: {Path(page).stem}, change {key}", n, warm,
                                  cold, "same re-run with cached query results dropped",
                                  note="server time incl. AppTest overhead; goal well under 1 s"))
        loaders.release_stores()
    return results
