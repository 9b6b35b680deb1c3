"""The one-page case report: a real PDF with one page, the expected text and both
figures rendered by kaleido from the project's figure builders."""
from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
import pytest

from crlm import cases, figures, stats
from crlm.reports import CaseReport, build_case_report, figure_png
from crlm.reports.case_report import latin1
from tests.support.pdf import pdf_pages, pdf_text




def pdf_images(pdf: bytes) -> int:
    return len(re.findall(rb"/Subtype\s*/Image", pdf))


def _scores(n_per_task: int) -> pd.DataFrame:
    rows = []
    for task in cases.TASK_ORDER:
        for i in range(n_per_task):
            rows.append(dict(patient_id="case-1", task=task, model_id=f"{task}.model{i}",
                             model_version=2, kind="trained", family="x",
                             score=0.61 if task == "response" else 0.2, threshold=0.5,
                             predicted_class=True, percentile=73.0, imputed=["cea_ng_ml"],
                             out_of_range=["max_diameter_cm"], contributions={},
                             contribution_method="linear", stale=i == 0, reason=""))
    rows.append(dict(rows[0], model_id="response.cnn", score=np.nan,
                     reason="no trained model of this family"))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def pngs():
    if shutil.which("chromium") is None and not any(
            __import__("os").path.exists(p) for p in ("/usr/bin/chromium",)):
        pytest.skip("no Chromium for kaleido")
    rng = np.random.default_rng(1)
    t = rng.exponential(30, 120)
    e = rng.random(120) < 0.7
    g = np.where(rng.random(120) < 0.5, "Predicted responder (this case)",
                 "Predicted non-responder")
    km = figures.make_km_figure(stats.kaplan_meier_by(t, e, g), title="OS by predicted response")
    contrib = figures.make_contribution_figure({"cea_ng_ml": 0.31, "kras": -0.2})
    return {"km": figure_png(km, caption="demo cohort"),
            "contributions": figure_png(contrib, caption="demo cohort")}


def _report(scores: pd.DataFrame, figs) -> CaseReport:
    case = cases.case_from_form({"max_diameter_cm": 4.0, "n_liver_lesions": 3, "kras": "mutant",
                                 "biologic": "anti-VEGF"})
    entries = {cases.entry_label(c): ("4" if c.name == "max_diameter_cm" else "unknown")
               for c in cases.ENTRY_COLUMNS}
    return CaseReport(entries=entries, clinical=cases.clinical_summary(case),
                      scores=cases.scores_table(scores), could_not_score=cases.could_not_score(scores),
                      cohort_text="cohort demo; RAS status: mutant", figures=figs,
                      flags=cases.case_flags(scores), label="MDT week 12, case 3", user="dr-demo",
                      chosen_model="response.model0")


def test_report_is_one_page_with_the_expected_text_and_figures(pngs):
    pdf = build_case_report(_report(_scores(8), pngs))
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert pdf_pages(pdf) == 1
    assert pdf_images(pdf) == 2
    text = pdf_text(pdf)
    for expected in ("Research use only, not a medical device.", "CRLM Cohort Explorer",
                     "Cohort: cohort demo; RAS status: mutant", "MDT week 12, case 3",
                     "Largest lesion diameter (cm): 4", "TBS zone: medium",
                     "response.model0", "Response (RECIST CR/PR)", "0.610", "responder",
                     "Could not score", "response.cnn", "Outside the training range",
                     "Trained on a different cohort version", "Date: "):
        assert expected in text, expected


def test_long_score_tables_are_cut_to_one_page(pngs):
    pdf = build_case_report(_report(_scores(30), pngs))
    assert pdf_pages(pdf) == 1
    assert "more model rows are shown in the app" in pdf_text(pdf)


def test_report_without_figures_still_one_page():
    pdf = build_case_report(_report(_scores(3), {}))
    assert pdf_pages(pdf) == 1 and pdf_images(pdf) == 0
    assert "Research use only" in pdf_text(pdf)


def test_latin1_spells_out_symbols():
    assert latin1("TBS ≥ 9 – high") == "TBS >= 9 - high"
    assert latin1("漢") == "?"
