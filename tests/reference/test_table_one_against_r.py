"""Baseline table (Table 1) p-values, quartiles and SMD against R on survival's `lung`."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from crlm.stats.baseline_table import baseline_table

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def result():
    frame = pd.read_csv(DATA / "table_one_lung.csv", dtype={"ecog": "string"})
    ref = json.loads((DATA / "table_one_lung.json").read_text())
    table = baseline_table(
        frame,
        [("age", "Age", "continuous"), ("wt.loss", "Weight loss", "continuous"),
         ("ecog", "ECOG", "categorical")],
        by="sex",
    ).table.set_index(["variable", "level"])
    return table, ref


def test_kruskal_wallis_p_values(result):
    table, ref = result
    assert table.loc[("Age", "median [IQR]"), "p_value"] == pytest.approx(ref["kruskal_age_by_sex"], rel=1e-9)
    assert table.loc[("Weight loss", "median [IQR]"), "p_value"] == pytest.approx(
        ref["kruskal_wtloss_by_sex"], rel=1e-9)


def test_chi_square_p_value_excludes_missing(result):
    table, ref = result
    first_level = table.loc["ECOG"].index[0]
    assert table.loc[("ECOG", first_level), "p_value"] == pytest.approx(ref["chisq_ecog_by_sex"], rel=1e-9)


@pytest.mark.parametrize("correction,key", [(False, "chisq_ecog0_by_sex"),
                                            (True, "chisq_ecog0_by_sex_yates")])
def test_two_by_two_chi_square_without_and_with_yates_correction(correction, key):
    # R: chisq.test(table(sex, ecog == "0"), correct = FALSE / TRUE)
    frame = pd.read_csv(DATA / "table_one_lung.csv", dtype={"ecog": "string"})
    frame = frame[frame["ecog"].notna()].assign(ecog0=lambda d: d["ecog"] == "0")
    ref = json.loads((DATA / "table_one_lung.json").read_text())
    table = baseline_table(frame, [("ecog0", "ECOG 0", "categorical")], by="sex",
                           continuity_correction=correction).table.set_index(["variable", "level"])
    assert table.loc[("ECOG 0", "no"), "p_value"] == pytest.approx(ref[key], rel=1e-9)


def test_median_iqr_and_smd(result):
    table, ref = result
    expected = f"{ref['median_age_female']:.1f} [{ref['q1_age_female']:.1f}–{ref['q3_age_female']:.1f}]"
    assert table.loc[("Age", "median [IQR]"), "female"] == expected
    assert table.loc[("Age", "median [IQR]"), "smd"] == pytest.approx(ref["smd_age"], rel=1e-9)
    assert table.loc[("Weight loss", "missing"), "Overall"] == str(ref["missing_wtloss"])


def test_bad_arguments_are_named():
    frame = pd.DataFrame({"a": [1, 2]})
    with pytest.raises(ValueError, match="no column 'b'"):
        baseline_table(frame, [("b", "B", "continuous")])
    with pytest.raises(ValueError, match="grouping column"):
        baseline_table(frame, [("a", "A", "continuous")], by="zzz")
