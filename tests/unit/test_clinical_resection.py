"""Nordlinger score, AJCC stage group, major pathological response and the yes/no
targets of the CT tasks, against hand-computed cases, boundaries included."""
from __future__ import annotations

import pandas as pd
import pytest

from crlm import clinical
from crlm.models.families import FAMILIES
from crlm.models.tasks import TASKS

NA = pd.NA
# age, T, node-positive, DFI months, lesions, largest cm, margin mm
ALL_LOW = (59.9, "T3", False, 24.0, 3, 4.9, 10.0)


@pytest.mark.parametrize(
    "inputs, expected",
    [
        (ALL_LOW, 0),                                        # each factor just below its cut-off
        ((60.0, "T4", True, 23.9, 4, 5.0, 9.9), 7),         # each exactly at / past it
        ((60.0, "T3", False, 24.0, 3, 4.9, 10.0), 1),       # age 60 scores
        ((45.0, "T4", False, 36.0, 1, 2.0, 15.0), 1),       # serosa: T4
        ((45.0, "T2", True, 36.0, 1, 2.0, 15.0), 1),        # node-positive primary
        ((45.0, "T2", False, 0.0, 1, 2.0, 15.0), 1),        # synchronous: interval < 2 years
        ((45.0, "T2", False, 36.0, 4, 2.0, 15.0), 1),       # 4 lesions
        ((45.0, "T2", False, 36.0, 1, 5.0, 15.0), 1),       # 5 cm
        ((45.0, "T2", False, 36.0, 1, 2.0, 0.0), 1),        # R1 margin (0 mm)
        # a worked case: 67 years, pT3 N1, metachronous after 18 months, 2 lesions, largest
        # 6.5 cm, margin 4 mm -> age, node, interval, size, margin = 5 (group 5-7)
        ((67.0, "T3", True, 18.0, 2, 6.5, 4.0), 5),
    ],
)
def test_nordlinger_score_rules(inputs, expected):
    assert clinical.nordlinger_score(*inputs) == expected


@pytest.mark.parametrize("position", range(7))
def test_nordlinger_missing_input_gives_missing_score(position):
    inputs = list(ALL_LOW)
    inputs[position] = None
    assert clinical.nordlinger_score(*inputs) is NA


def test_nordlinger_vectorised_keeps_index_and_missing():
    idx = [5, 6, 7]
    out = clinical.nordlinger_score(
        pd.Series([70.0, 50.0, 61.0], index=idx),
        pd.Series(["T4", "T2", None], index=idx, dtype="string"),
        pd.Series([True, False, True], index=idx, dtype="boolean"),
        pd.Series([6.0, 40.0, 6.0], index=idx),
        pd.Series([5, 1, 5], index=idx, dtype="Int64"),
        pd.Series([7.0, 1.0, 7.0], index=idx),
        pd.Series([0.0, 20.0, 0.0], index=idx))
    assert list(out.index) == idx
    assert out.tolist() == [7, 0, NA]


def test_nordlinger_rejects_bad_values():
    with pytest.raises(ValueError, match="t_stage must be one of T1, T2, T3, T4"):
        clinical.nordlinger_score(60, "pT4", True, 10, 2, 3, 5)
    with pytest.raises(ValueError, match="resection_margin_mm must be >= 0"):
        clinical.nordlinger_score(60, "T4", True, 10, 2, 3, -1)


@pytest.mark.parametrize("score, group", [(0, "0-2"), (2, "0-2"), (3, "3-4"), (4, "3-4"),
                                          (5, "5-7"), (7, "5-7")])
def test_nordlinger_group(score, group):
    assert clinical.nordlinger_group(score) == group


def test_nordlinger_group_missing_and_out_of_range():
    assert clinical.nordlinger_group(None) is NA
    with pytest.raises(ValueError, match="between 0 and 7"):
        clinical.nordlinger_group(8)


def test_ajcc_stage_group():
    assert clinical.ajcc_stage(False) == "IVA"
    assert clinical.ajcc_stage(True) == "IVB or IVC"
    assert clinical.ajcc_stage(None) is NA


@pytest.mark.parametrize("percent, major", [(100.0, True), (51.0, True), (50.0, False),
                                            (0.0, False), (None, NA)])
def test_major_pathological_response(percent, major):
    assert clinical.major_pathological_response(percent) is major or (
        clinical.major_pathological_response(percent) == major)


def test_major_pathological_response_out_of_range():
    with pytest.raises(ValueError, match="between 0 and 100"):
        clinical.major_pathological_response(120.0)


def test_targets_of_the_ct_tasks():
    assert clinical.ras_mutant("mutant") == True  # noqa: E712 (pandas boolean)
    assert clinical.ras_mutant("wild-type") == False  # noqa: E712
    assert clinical.ras_mutant("unknown") is NA
    assert clinical.desmoplastic_growth("desmoplastic") == True  # noqa: E712
    for other in ("pushing", "replacement", "mixed"):
        assert clinical.desmoplastic_growth(other) == False  # noqa: E712
    assert clinical.desmoplastic_growth(None) is NA


def test_add_derived_columns_without_the_resection_columns_leaves_them_missing():
    row = pd.DataFrame({
        "kras": ["wild-type"], "nras": ["wild-type"], "node_positive": [True],
        "disease_free_interval_months": [6.0], "n_liver_lesions": [5],
        "max_diameter_cm": [6.0], "extrahepatic_disease": [False], "cea_ng_ml": [10.0],
        "best_response": ["PR"], "age_years": [70.0], "t_stage": ["T4"]})
    out = clinical.add_derived_columns(row)
    assert out.at[0, "nordlinger_score"] is NA     # no margin: no guess
    assert out.at[0, "ajcc_stage"] == "IVA"
    assert out.at[0, "ras_mutant"] == False  # noqa: E712
    row["resection_margin_mm"] = [12.0]
    assert clinical.add_derived_columns(row).at[0, "nordlinger_score"] == 6


def test_nordlinger_is_a_comparator_of_the_post_resection_tasks_only():
    family = FAMILIES["nordlinger_score"]
    assert family.is_clinical and family.column == "nordlinger_score"
    served = {name for name, task in TASKS.items() if family.serves(task)}
    assert served == {"os_after_resection", "recurrence_after_resection", "rfs_risk"}
