"""Clinical scores against hand-computed cases, boundaries included."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from crlm import clinical
from crlm.config import PATIENT_COLUMNS

NA = pd.NA


# ------------------------------------------------------------------------ RAS status
@pytest.mark.parametrize(
    "kras, nras, expected",
    [
        ("mutant", "wild-type", "mutant"),
        ("wild-type", "mutant", "mutant"),
        ("mutant", None, "mutant"),          # mutant even if NRAS not tested
        (None, "mutant", "mutant"),
        ("wild-type", "wild-type", "wild-type"),
        ("wild-type", None, "unknown"),      # never silently wild-type
        (None, "wild-type", "unknown"),
        (None, None, "unknown"),
        (np.nan, "wild-type", "unknown"),
    ],
)
def test_ras_status_rules(kras, nras, expected):
    assert clinical.ras_status(kras, nras) == expected


def test_ras_status_vectorised_keeps_index():
    kras = pd.Series(["mutant", "wild-type", None], index=[10, 11, 12], dtype="string")
    nras = pd.Series([None, "wild-type", "wild-type"], index=[10, 11, 12], dtype="string")
    out = clinical.ras_status(kras, nras)
    assert list(out.index) == [10, 11, 12]
    assert out.tolist() == ["mutant", "wild-type", "unknown"]
    assert str(out.dtype) == "string"


@pytest.mark.parametrize("bad", ["mut", "Mutant", "wildtype", 1])
def test_ras_status_rejects_unknown_levels(bad):
    with pytest.raises(ValueError, match="kras"):
        clinical.ras_status(bad, "wild-type")


def test_length_mismatch_is_a_value_error():
    with pytest.raises(ValueError, match="nras"):
        clinical.ras_status(pd.Series(["mutant", "mutant"]), pd.Series(["mutant"]))


# ------------------------------------------------------------------- tumour burden
def test_tumour_burden_score_pythagoras():
    assert clinical.tumour_burden_score(4.0, 3) == pytest.approx(5.0)
    assert clinical.tumour_burden_score(0.5, 1) == pytest.approx(math.sqrt(1.25))


def test_tumour_burden_score_missing_is_nan_not_zero():
    out = clinical.tumour_burden_score(pd.Series([4.0, np.nan, 3.0]),
                                       pd.Series([3, 2, None], dtype="Int64"))
    assert out.iloc[0] == pytest.approx(5.0)
    assert np.isnan(out.iloc[1]) and np.isnan(out.iloc[2])


def test_tumour_burden_score_rejects_negative_and_text():
    with pytest.raises(ValueError, match="max_diameter_cm"):
        clinical.tumour_burden_score(-1.0, 2)
    with pytest.raises(ValueError, match="n_liver_lesions"):
        clinical.tumour_burden_score(2.0, "three")


@pytest.mark.parametrize(
    "tbs, zone",
    [(0.0, "low"), (2.999, "low"), (3.0, "medium"), (8.999, "medium"), (9.0, "high"), (40.0, "high")],
)
def test_tbs_zone_boundaries(tbs, zone):
    assert clinical.tbs_zone(tbs) == zone


def test_tbs_zone_exactly_three_from_inputs():
    # three lesions of 0 cm is not clinical but gives TBS exactly 3 by construction
    assert clinical.tbs_zone(clinical.tumour_burden_score(0.0, 3)) == "medium"
    assert clinical.tbs_zone(clinical.tumour_burden_score(0.0, 9)) == "high"


def test_tbs_zone_missing_stays_missing():
    assert clinical.tbs_zone(np.nan) is NA


# ----------------------------------------------------------------------------- Fong
@pytest.mark.parametrize(
    "node, dfi, lesions, cea, diameter, expected",
    [
        (False, 12.0, 1, 200.0, 5.0, 0),   # every cut-off exactly at its boundary scores 0
        (True, 12.0, 1, 200.0, 5.0, 1),
        (False, 11.9, 1, 200.0, 5.0, 1),   # DFI < 12
        (False, 12.0, 2, 200.0, 5.0, 1),   # > 1 lesion
        (False, 12.0, 1, 200.1, 5.0, 1),   # CEA > 200
        (False, 12.0, 1, 200.0, 5.01, 1),  # > 5 cm
        (True, 0.0, 7, 1500.0, 9.0, 5),
        (True, 30.0, 3, 10.0, 2.0, 2),
    ],
)
def test_fong_score_rules(node, dfi, lesions, cea, diameter, expected):
    assert clinical.fong_score(node, dfi, lesions, cea, diameter) == expected


@pytest.mark.parametrize("position", range(5))
def test_fong_score_missing_input_gives_missing_score(position):
    args = [True, 3.0, 2, 250.0, 6.0]
    args[position] = None
    assert clinical.fong_score(*args) is NA


def test_fong_score_vectorised_with_nullable_types():
    out = clinical.fong_score(
        pd.Series([True, False, None], dtype="boolean"),
        pd.Series([0.0, 24.0, 0.0]),
        pd.Series([3, 1, 3], dtype="Int64"),
        pd.Series([250.0, 5.0, 250.0]),
        pd.Series([6.0, 2.0, 6.0]),
    )
    assert str(out.dtype) == "Int64"
    assert out.iloc[0] == 5 and out.iloc[1] == 0 and out.iloc[2] is NA


def test_fong_score_rejects_non_boolean_node_status():
    with pytest.raises(ValueError, match="node_positive"):
        clinical.fong_score("yes", 3.0, 2, 10.0, 2.0)
    with pytest.raises(ValueError, match="node_positive"):
        clinical.fong_score(2, 3.0, 2, 10.0, 2.0)


@pytest.mark.parametrize("score, group", [(0, "low"), (2, "low"), (3, "high"), (5, "high")])
def test_fong_group(score, group):
    assert clinical.fong_group(score) == group


def test_fong_group_missing_and_out_of_range():
    assert clinical.fong_group(None) is NA
    with pytest.raises(ValueError, match="fong_score"):
        clinical.fong_group(6)


# ----------------------------------------------------------------------------- GAME
@pytest.mark.parametrize(
    "kras, cea, node, tbs, extrahepatic, expected",
    [
        ("wild-type", 20.0, False, 2.99, False, 0),   # CEA exactly 20 scores 0
        ("wild-type", 20.1, False, 2.99, False, 1),
        ("mutant", 20.0, False, 2.99, False, 1),
        ("wild-type", 20.0, True, 2.99, False, 1),
        ("wild-type", 20.0, False, 3.0, False, 1),    # TBS exactly 3 -> 1 point
        ("wild-type", 20.0, False, 8.99, False, 1),
        ("wild-type", 20.0, False, 9.0, False, 2),    # TBS exactly 9 -> 2 points
        ("wild-type", 20.0, False, 2.0, True, 2),     # extrahepatic disease -> 2 points
        ("mutant", 500.0, True, 12.0, True, 7),
    ],
)
def test_game_score_rules(kras, cea, node, tbs, extrahepatic, expected):
    assert clinical.game_score(kras, cea, node, tbs, extrahepatic) == expected


def test_game_score_missing_kras_is_missing():
    assert clinical.game_score(None, 5.0, False, 2.0, False) is NA


@pytest.mark.parametrize("score, group", [(0, "0-1"), (1, "0-1"), (2, "2-3"), (3, "2-3"),
                                          (4, "4-7"), (7, "4-7")])
def test_game_group(score, group):
    assert clinical.game_group(score) == group


# ----------------------------------------------------------------------------- m-CS
@pytest.mark.parametrize(
    "ras, node, diameter, expected",
    [
        ("wild-type", False, 5.0, 0),   # exactly 5 cm scores 0
        ("wild-type", False, 5.1, 1),
        ("mutant", False, 1.0, 1),
        ("wild-type", True, 1.0, 1),
        ("mutant", True, 8.0, 3),
    ],
)
def test_mcs_score_rules(ras, node, diameter, expected):
    assert clinical.mcs_score(ras, node, diameter) == expected


def test_mcs_score_unknown_ras_is_missing():
    assert clinical.mcs_score("unknown", True, 8.0) is NA
    assert clinical.mcs_score(None, True, 8.0) is NA


# ------------------------------------------------------------------------ responder
def test_responder_from_recist():
    out = clinical.responder(pd.Series(["CR", "PR", "SD", "PD", None], dtype="string"))
    assert out.tolist()[:4] == [True, True, False, False]
    assert out.iloc[4] is NA
    with pytest.raises(ValueError, match="best_response"):
        clinical.responder("NE")


# ------------------------------------------------------------- add_derived_columns
def _row(**overrides):
    row = {
        "kras": "mutant", "nras": None, "node_positive": True,
        "disease_free_interval_months": 6.0, "n_liver_lesions": 4, "max_diameter_cm": 6.0,
        "extrahepatic_disease": False, "cea_ng_ml": 250.0, "best_response": "PR",
    }
    row.update(overrides)
    return row


def test_add_derived_columns_one_row_by_hand():
    df = pd.DataFrame([_row()])
    out = clinical.add_derived_columns(df)
    r = out.iloc[0]
    assert r["ras_status"] == "mutant"
    assert r["tumour_burden_score"] == pytest.approx(math.sqrt(36 + 16))   # 7.21
    assert r["tbs_zone"] == "medium"
    assert r["fong_score"] == 5 and r["fong_group"] == "high"
    assert r["game_score"] == 4 and r["game_group"] == "4-7"       # KRAS, CEA, node, TBS 1
    assert r["mcs_score"] == 3
    assert bool(r["responder"]) is True
    assert set(clinical.DERIVED_COLUMNS) <= set(out.columns)
    assert "ras_status" not in df.columns            # the input is not modified


def test_add_derived_columns_covers_every_derived_column_of_the_contract():
    derived = {c.name for c in PATIENT_COLUMNS if c.derived}
    out = clinical.add_derived_columns(pd.DataFrame([_row()]))
    assert derived <= set(out.columns)


def test_add_derived_columns_missing_input_column():
    df = pd.DataFrame([_row()]).drop(columns=["cea_ng_ml"])
    with pytest.raises(ValueError, match="cea_ng_ml"):
        clinical.add_derived_columns(df)


def test_add_derived_columns_vectorised_equals_row_by_row():
    rng = np.random.default_rng(7)
    n = 60
    levels = np.array(["mutant", "wild-type", None], dtype=object)
    df = pd.DataFrame({
        "kras": levels[rng.integers(0, 3, n)],
        "nras": levels[rng.integers(0, 3, n)],
        "node_positive": np.where(rng.random(n) < 0.1, None, rng.random(n) < 0.5),
        "disease_free_interval_months": rng.choice([0.0, 11.9, 12.0, 30.0, np.nan], n),
        "n_liver_lesions": rng.choice([1, 2, 5], n),
        "max_diameter_cm": rng.choice([1.0, 5.0, 5.1, 12.0], n),
        "extrahepatic_disease": rng.random(n) < 0.2,
        "cea_ng_ml": rng.choice([3.0, 20.0, 20.1, 200.0, 201.0, np.nan], n),
        "best_response": np.array(["CR", "PR", "SD", "PD", None], dtype=object)[rng.integers(0, 5, n)],
    }, index=np.arange(100, 100 + n))
    out = clinical.add_derived_columns(df)
    assert list(out.index) == list(df.index)
    for i, (_, row) in enumerate(df.iterrows()):
        one = clinical.add_derived_columns(pd.DataFrame([row]))
        for col in clinical.DERIVED_COLUMNS:
            a, b = out[col].iloc[i], one[col].iloc[0]
            assert (pd.isna(a) and pd.isna(b)) or a == b, (col, i)
    # missing CEA or DFI makes Fong missing, not a lower score
    gap = df["cea_ng_ml"].isna() | df["disease_free_interval_months"].isna() | df["node_positive"].isna()
    assert out.loc[gap, "fong_score"].isna().all()
    assert out.loc[~gap, "fong_score"].notna().all()
