"""Scoring a case: the "Score a case" page's server work, measured by direct calls.

* one case, every current model (``score_cases`` with contributions), models
  already loaded — baseline: the same call with the model caches cleared first
  (every artefact loaded and checked again, as without a process-wide cache);
* the page itself under Streamlit's AppTest: the run that scores the form's case
  and draws every table and figure, and a plain rerun that redraws them
  (goal: well under a second after the models are loaded);
* a 100-slice CT upload (zip of DICOM + SEG, in memory): read and de-identify,
  SEG mask, lesion features and crop, scoring with them (CNN and fusion models
  included when the store has them) (goal: < 5 s) —
  baseline: a plain ``pydicom.dcmread`` loop over the zip's files + ``np.stack``.

The store is ``CRLM_BENCH_DB`` when set (a trained store), else a small demo
store (600 patients, fast models) built in a temporary folder first.
"""
from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from bench.common import Result, timed

ROOT = Path(__file__).resolve().parents[1]
ENTRIES = {"max_diameter_cm": 4.0, "n_liver_lesions": 3, "cea_ng_ml": 35.0,
           "kras": "wild-type", "nras": "wild-type", "node_positive": "yes",
           "biologic": "anti-EGFR", "primary_side": "left", "age_years": 64.0,
           "extrahepatic_disease": "no"}


def _store_path(tmp: Path) -> Path:
    given = os.environ.get("CRLM_BENCH_DB")
    if given:
        return Path(given)
    from crlm.cli import main

    path = tmp / "crlm.duckdb"
    rc = main(["--db", str(path), "-q", "demo", "--patients", "600", "--seed", "7",
               "--folds", "3", "--fast"])
    if rc != 0:
        raise RuntimeError("building the benchmark store failed")
    return path


def _ct_zip(n_slices: int, size: int) -> bytes:
    from crlm.ingest.synthetic_ct import synthetic_volume, write_seg, write_series

    volume, mask, geo = synthetic_volume(11, 0.5, 4.0, n_slices=n_slices, size=size,
                                         pixel_mm=360.0 / size)
    with tempfile.TemporaryDirectory() as tmp:
        ct = write_series(Path(tmp) / "CT", volume, geo["spacing_mm"], geo["spacing_mm"][0], 11,
                          "BENCH")
        seg = write_seg(Path(tmp) / "SEG" / "seg.dcm", ct, mask, 11, "BENCH")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in ct:
                zf.write(p, f"CT/{p.name}")
            zf.write(seg, "SEG/seg.dcm")
    return buf.getvalue()


def _pydicom_baseline(data: bytes) -> np.ndarray:
    import pydicom

    slices = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():
            if name.startswith("CT/"):
                slices.append(pydicom.dcmread(io.BytesIO(zf.read(name))))
    slices.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    return np.stack([d.pixel_array.astype(np.float32) * float(d.RescaleSlope)
                     + float(d.RescaleIntercept) for d in slices])


def _page_timings(path: Path) -> tuple[float, float]:
    from streamlit.testing.v1 import AppTest

    os.environ["CRLM_DB"] = str(path)
    os.environ["CRLM_DEMO_MODE"] = "1"
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    at.switch_page("views/score.py").run()
    for name, value in ENTRIES.items():
        widget = (at.selectbox if isinstance(value, str) else at.number_input)(key=f"score_in_{name}")
        widget.set_value(value)
    at.run()
    at.button(key="score_run").click().run()   # loads the models (not timed)
    if at.exception:
        raise RuntimeError(f"the page failed: {at.exception}")

    def score_and_draw():
        at.button(key="score_run").click().run()

    t_score, _ = timed(score_and_draw, repeat=3)
    t_redraw, _ = timed(lambda: at.run(), repeat=3)
    return t_score, t_redraw


def run(quick: bool) -> list[Result]:
    from crlm import cases, store
    from crlm.models import clear_caches, score_cases

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = _store_path(Path(tmp))
        case = cases.case_from_form(cases.form_values(ENTRIES))
        with store.Store(path) as s:
            score_cases(case, store=s)  # load every model once

            def cold():
                clear_caches()
                return score_cases(case, store=s).table

            t_warm, scores = timed(lambda: score_cases(case, store=s).table, repeat=3)
            t_cold, _ = timed(cold, repeat=1 if quick else 2)
            n_models = int(scores["model_id"].nunique())
            results.append(Result("score one case, all models (loaded)", n_models, t_warm, t_cold,
                                  "model caches cleared before each call",
                                  note="goal well under 1 s"))

            n_slices, size = (30, 256) if quick else (100, 512)
            data = _ct_zip(n_slices, size)
            known = list(store.load_feature_names(s, "demo")["feature"])

            def ct_case():
                ct = cases.read_ct_upload(data, "bench.zip")
                feats, crop = cases.lesion_inputs(ct, ct.seg_mask)
                features = cases.lesion_feature_frame("case-1", feats, known)
                return score_cases(case, store=s, features=features, crops={"case-1": crop})

            t_ct, _ = timed(ct_case, repeat=2)
            t_base, _ = timed(lambda: _pydicom_baseline(data), repeat=2)
            results.append(Result(f"CT case {n_slices}x{size}x{size}: read+SEG+features+score",
                                  n_slices, t_ct, t_base, "pydicom dcmread loop + np.stack "
                                  "(read only)", note="goal < 5 s"))
        t_score, t_redraw = _page_timings(path)
        results.append(Result("Score page: score + draw (AppTest run)", n_models, t_score, None,
                              "", note="server time incl. AppTest overhead; goal < 1 s"))
        results.append(Result("Score page: redraw with results (AppTest run)", n_models, t_redraw,
                              None, "", note="figures, tables, similar patients"))
    return results
