"""The R exports without R: files, de-identification, labels, and the numbers they carry."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pytest

from crlm import stats
from crlm.reports.r_export import (
    ExportInputError, ModelScores, models_export, survival_export, table_one_export,
)
from crlm.stats.baseline_table import baseline_table


def _survival_data(n=60, seed=3):
    rng = np.random.default_rng(seed)
    group = np.where(rng.random(n) < 0.5, "A", "B")
    time = np.round(rng.exponential(20, n), 1) + 0.1
    event = rng.random(n) < 0.7
    return pd.DataFrame({"time": time, "event": event, "group": group})


def test_zip_holds_data_script_numbers_and_readme_without_patient_ids():
    data = _survival_data().assign(patient_id=[f"MRN{i:07d}" for i in range(60)])
    export = survival_export(data, horizon=24, order=["A", "B"])
    with zipfile.ZipFile(io.BytesIO(export.zip_bytes())) as zf:
        assert sorted(zf.namelist()) == ["survival/README.txt", "survival/analysis.R",
                                         "survival/data.csv", "survival/ours.csv"]
        text = "".join(zf.read(name).decode() for name in zf.namelist())
    assert "MRN" not in text and "patient_id" not in text
    written = pd.read_csv(io.BytesIO(export.data_csv()))
    assert list(written.columns) == ["pid", "time", "event", "group"]
    assert written["pid"].tolist()[:2] == ["P0001", "P0002"]
    assert "library(survival)" in export.script and "survival 3.5.3" in export.script


def test_numbers_are_the_pages_numbers():
    data = _survival_data()
    export = survival_export(data, horizon=24, order=["B", "A"], landmarks=[12])
    t, e, g = data["time"].to_numpy(), data["event"].to_numpy(), data["group"].to_numpy()
    km = stats.kaplan_meier(t[g == "A"], e[g == "A"])
    fit = stats.cox(t, e, pd.DataFrame({"A": (g == "A").astype(float)}))
    numbers = export.numbers
    assert numbers["km[A].median"] == km.median or np.isnan(km.median)
    assert numbers["km[A].surv_at_12"] == km.survival_at([12]).survival[0]
    assert numbers["hr[A vs B]"] == fit.terms[0].hr  # B is the reference: first in the order
    assert numbers["logrank.p"] == stats.logrank(t, e, g).p_value
    # full precision in ours.csv (repr), NaN as R's NA
    ours = export.ours_csv().decode()
    assert repr(fit.terms[0].hr) in ours


def test_labels_with_quotes_and_formula_prefixes_are_safe_in_csv_and_r():
    data = _survival_data().assign(group=lambda d: np.where(d["group"] == "A", '=HYPERLINK("x")', 'say "hi"'))
    export = survival_export(data, horizon=24)
    assert set(export.data["group"]) == {"'=HYPERLINK(\"x\")", 'say "hi"'}
    assert 'say \\"hi\\"' in export.script  # an escaped R string literal


def test_bad_inputs_are_named():
    with pytest.raises(ExportInputError, match="'time'"):
        survival_export(pd.DataFrame({"event": [1], "group": ["a"]}), horizon=1)
    with pytest.raises(ExportInputError, match="order"):
        survival_export(_survival_data(), horizon=12, order=["A"])
    with pytest.raises(ExportInputError, match="0/1"):
        models_export([0, 2], [ModelScores("m", np.array([0.1, 0.2]))])
    with pytest.raises(ExportInputError, match="distinct"):
        models_export([0, 1], [ModelScores("m", np.array([0.1, 0.2])), ModelScores("m", np.array([0.3, 0.4]))])


def test_models_export_leaves_out_a_model_with_one_class_and_a_clinical_score_from_calibration():
    y = np.array([0, 1, 0, 1, 1, 0, 1, 0])
    p = np.array([0.2, 0.7, 0.4, 0.9, 0.6, 0.1, 0.8, 0.3])
    only_cases = np.where(y == 1, 0.5, np.nan)
    export = models_export(y, [ModelScores("model", p, 0.5, probability=True),
                               ModelScores("fong", np.array([1, 3, 2, 4, 3, 0, 5, 1.0]), 4.0),
                               ModelScores("one class", only_cases, 0.5)],
                           reference="fong", chosen="model")
    names = export.numbers
    assert "roc[model].auc" in names and "calibration[model].brier" in names
    assert "calibration[fong].brier" not in names and "roc[one class].auc" not in names
    # the positives score 3, 4, 3, 5: two of the four have fong >= 4
    assert names["at_threshold[fong].sensitivity"] == 0.5


def test_table_one_values_are_the_text_cells_at_full_precision():
    frame = pd.DataFrame({"age": [50.0, 61, 72, 45, np.nan, 58], "arm": ["a", "a", "b", "b", "b", None],
                          "sex": ["f", "m", "f", "f", "m", "m"]})
    result = baseline_table(frame, [("age", "Age", "continuous"), ("sex", "Sex", "categorical")], by="arm")
    v = result.values.set_index(["variable", "level", "group", "statistic"])["value"]
    assert v[("Age", "", "a", "median")] == 55.5   # (50 + 61) / 2
    assert v[("Age", "", "b", "missing")] == 1
    assert v[("Sex", "f", "b", "n")] == 2 and v[("Sex", "f", "b", "percent")] == pytest.approx(200 / 3)
    export = table_one_export(frame, [("age", "Age", "continuous"), ("sex", "Sex", "categorical")], by="arm")
    assert export.numbers["Sex=f[b].percent"] == pytest.approx(200 / 3)
    assert list(export.data.columns) == ["pid", "v1", "v2", "group"]


def test_table_one_smd_is_the_largest_defined_pairwise_smd():
    # group "unknown" has one patient: its SMD with the others is undefined (NaN); the
    # largest defined pair decides, whatever the order of the pairs
    frame = pd.DataFrame({"x": [1.0, 2, 3, 4, 10, 11, 12, 13, 5], "g": list("aaaabbbb") + [None]})
    table = baseline_table(frame, [("x", "X", "continuous")], by="g").table
    a, b = np.array([1.0, 2, 3, 4]), np.array([10.0, 11, 12, 13])
    expected = abs(a.mean() - b.mean()) / np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    assert table.loc[1, "smd"] == pytest.approx(expected)


def test_problem_zip_says_why_there_is_no_export():
    from crlm.reports.r_export import problem_zip

    with zipfile.ZipFile(io.BytesIO(problem_zip("km", "survival export: no patient"))) as zf:
        assert zf.namelist() == ["km/README.txt"]
        assert zf.read("km/README.txt").decode() == "No R export: survival export: no patient\n"


def test_an_export_with_no_number_is_refused():
    # no model has both classes: nothing the page could show
    with pytest.raises(ExportInputError, match="nothing to export"):
        models_export([1, 1, 1], [ModelScores("m", np.array([0.1, 0.2, 0.3]), 0.5)])


def test_survival_export_leaves_out_infinite_hazard_ratios():
    t = [1, 2, 3, 5, 6, 7, 8, 5, 6, 7, 9]
    e = [1, 1, 0, 1, 0, 1, 1, 1, 1, 0, 1]
    g = ["c"] * 3 + ["a"] * 4 + ["b"] * 4
    export = survival_export(pd.DataFrame({"time": t, "event": e, "group": g}), horizon=6)
    assert not any(name.startswith("hr[") for name in export.numbers)
    assert "logrank.p" in export.numbers and any("monotone" in n for n in export.notes)
