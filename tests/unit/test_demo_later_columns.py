"""The demo's later contract columns (N category, margin, pathological response,
recurrence-free survival, the pushing growth pattern) and the promise that adding them
moved no earlier value."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from crlm import config
from crlm.ingest.demo import generate_cohort_frames
from crlm.ingest.demo_block import simulate_block

SEED = 20240601
# the patients table had these columns before the later ones were added; growth_pattern
# is left out: the later stream turns a few non-desmoplastic patterns into ``pushing``
# (test_pushing_replaces_only_non_desmoplastic_patterns checks every other value)
EARLIER_COLUMNS = (
    "patient_id", "center", "cohort_split", "diagnosis_date", "age_years", "sex",
    "primary_side", "t_stage", "node_positive", "grade", "kras", "nras", "braf_v600e", "msi",
    "her2", "ras_status", "synchronous", "disease_free_interval_months", "n_liver_lesions",
    "max_diameter_cm", "bilobar", "extrahepatic_disease", "cea_ng_ml", "tumour_burden_score",
    "tbs_zone", "fong_score", "fong_group", "game_score", "game_group", "mcs_score", "regimen",
    "biologic", "hepatectomy", "best_response", "responder", "os_months",
    "os_event", "pfs_months", "pfs_event",
)
# sha256 of pandas' row hashes of those columns for (400 patients, SEED), taken from the
# generator as it was before the later columns existed
EARLIER_DIGEST_400 = "19b22fe420deb4cd5ac0d8ec19f5769fb08205c1609b152e31cdf1ff1a45ed52"
LATER = ("n_category", "resection_margin_mm", "pathological_response_percent", "rfs_months",
         "rfs_event", "growth_pattern")


def _digest(frame: pd.DataFrame) -> str:
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(rows.tobytes()).hexdigest()


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return generate_cohort_frames(1500, SEED).patients


def test_every_earlier_column_keeps_its_values_for_the_same_seed():
    patients = generate_cohort_frames(400, SEED).patients
    assert _digest(patients.loc[:, list(EARLIER_COLUMNS)]) == EARLIER_DIGEST_400


def test_the_later_stream_changes_only_the_later_columns():
    one = simulate_block(np.random.default_rng(7), 300, 0, np.random.default_rng(1))
    two = simulate_block(np.random.default_rng(7), 300, 0, np.random.default_rng(2))
    earlier = [c for c in config.PATIENT_COLUMN_NAMES if c in EARLIER_COLUMNS]
    pd.testing.assert_frame_equal(one.patients[earlier], two.patients[earlier])
    pd.testing.assert_frame_equal(one.features, two.features)
    pd.testing.assert_frame_equal(one.latent, two.latent)
    pd.testing.assert_frame_equal(one.measurements, two.measurements)
    assert not one.patients["resection_margin_mm"].equals(two.patients["resection_margin_mm"])


def test_n_category_agrees_with_node_status(cohort):
    known = cohort["node_positive"].notna()
    assert (cohort.loc[~known, "n_category"].isna()).all()
    node = cohort.loc[known, "node_positive"].astype(bool)
    assert ((cohort.loc[known, "n_category"] != "N0") == node).all()
    assert set(cohort["n_category"].dropna()) == {"N0", "N1", "N2"}
    n2_share = (cohort.loc[known & node, "n_category"] == "N2").mean()
    assert 0.25 < n2_share < 0.6


def test_stage_follows_the_metastatic_sites(cohort):
    extra = cohort["extrahepatic_disease"].astype(bool)
    assert (cohort.loc[extra, "ajcc_stage"] == "IVB or IVC").all()
    assert (cohort.loc[~extra, "ajcc_stage"] == "IVA").all()


def test_resection_columns_only_for_resected_patients(cohort):
    resected = cohort["hepatectomy"].astype(bool)
    for name in ("resection_margin_mm", "pathological_response_percent", "rfs_months",
                 "rfs_event", "nordlinger_score", "major_pathological_response"):
        assert cohort.loc[~resected, name].isna().all(), name
    assert cohort.loc[resected, "rfs_months"].notna().all()
    assert cohort.loc[resected, "resection_margin_mm"].notna().mean() > 0.9
    margin = cohort.loc[resected, "resection_margin_mm"].dropna()
    assert 0.05 < (margin == 0).mean() < 0.3          # R1 resections
    assert ((margin >= 0) & (margin <= 100)).all()


def test_recurrence_free_survival_is_within_overall_survival(cohort):
    resected = cohort[cohort["hepatectomy"].astype(bool)]
    assert (resected["rfs_months"] <= resected["os_months"]).all()
    assert (resected["rfs_months"] <= resected["pfs_months"]).all()
    assert (resected["rfs_months"] > 0).all()
    assert resected["rfs_event"].astype(bool).equals(resected["pfs_event"].astype(bool))


def test_pathological_response_follows_the_recist_response(cohort):
    resected = cohort[cohort["hepatectomy"].astype(bool)
                      & cohort["major_pathological_response"].notna()]
    major = resected["major_pathological_response"].astype(bool)
    rate = major.groupby(resected["best_response"].astype(object)).mean()
    assert rate["PR"] > rate["SD"] + 0.3 and rate["CR"] > rate["PD"] + 0.5
    assert 0.25 < major.mean() < 0.6
    percent = resected["pathological_response_percent"]
    assert ((percent >= 0) & (percent <= 100)).all()
    assert (major == (percent > 50)).all()


def test_nordlinger_score_of_the_demo_is_its_rule(cohort):
    from crlm.clinical import nordlinger_score

    again = nordlinger_score(cohort["age_years"], cohort["t_stage"], cohort["node_positive"],
                             cohort["disease_free_interval_months"], cohort["n_liver_lesions"],
                             cohort["max_diameter_cm"], cohort["resection_margin_mm"])
    pd.testing.assert_series_equal(again, cohort["nordlinger_score"], check_names=False)
    resected = cohort[cohort["hepatectomy"].astype(bool)]
    assert resected["nordlinger_score"].notna().mean() > 0.8


def test_later_columns_are_in_the_contract():
    for name in LATER:
        assert name in config.PATIENT_COLUMN_NAMES
    assert config.COLUMNS_BY_NAME["rfs_months"].known_at == config.OUTCOME
    assert config.COLUMNS_BY_NAME["resection_margin_mm"].known_at == config.SURGERY
    assert config.COLUMNS_BY_NAME["pathological_response_percent"].known_at == config.SURGERY
    assert "pushing" in config.COLUMNS_BY_NAME["growth_pattern"].levels


def test_pushing_replaces_only_non_desmoplastic_patterns():
    one = simulate_block(np.random.default_rng(7), 2000, 0, np.random.default_rng(1)).patients
    two = simulate_block(np.random.default_rng(7), 2000, 0, np.random.default_rng(2)).patients
    a, b = (p["growth_pattern"].astype(object).fillna("") for p in (one, two))
    neither = (a != "pushing") & (b != "pushing")
    assert (a[neither] == b[neither]).all()          # the first stream's draw, kept
    assert (a != b).any()
    for p, g in ((one, a), (two, b)):
        pushing = g == "pushing"
        assert p.loc[pushing, "hepatectomy"].astype(bool).all()
        assert not p.loc[pushing, "desmoplastic_growth"].astype(bool).any()
        # the other's draw at the same rows was replacement or mixed, never desmoplastic
        other = b if g is a else a
        assert set(other[pushing & (other != "pushing")]) <= {"replacement", "mixed"}
    resected = one["hepatectomy"].astype(bool)
    share = (a[resected] == "pushing").mean()
    assert 0.01 < share < 0.08                       # the rarest pattern, a few per cent
    assert share < (a[resected] == "mixed").mean()
