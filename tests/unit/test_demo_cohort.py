"""The synthetic demo cohort: determinism, the column contract and the calibration targets.

Calibration tests run on one 5,000-patient cohort (seed ``config.DEFAULT_SEED``);
the tolerances are those listed in docs/data.md.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from crlm import clinical, config
from crlm.ingest import demo
from crlm.ingest.demo import (DemoChunk, GENOMIC_FEATURES, RADIOMIC_FEATURES, generate_cohort,
                              generate_cohort_frames)

N_CALIBRATION = 5000
KIND_DTYPES = {"text": "string", "category": "string", "bool": "boolean", "int": "Int64",
               "float": "float64", "date": "datetime64[ns]"}


@pytest.fixture(scope="module")
def cohort() -> DemoChunk:
    return generate_cohort_frames(N_CALIBRATION, config.DEFAULT_SEED)


@pytest.fixture(scope="module")
def patients(cohort) -> pd.DataFrame:
    return cohort.patients


def _is(series: pd.Series, value) -> np.ndarray:
    return (series == value).fillna(False).to_numpy(dtype=bool)


def _km_at(time, event, t: float) -> float:
    km = KaplanMeierFitter().fit(np.asarray(time, float), np.asarray(event, bool))
    return float(km.predict(t))


def _km_median(time, event) -> float:
    return float(KaplanMeierFitter().fit(np.asarray(time, float),
                                         np.asarray(event, bool)).median_survival_time_)


def _features_wide(cohort: DemoChunk, feature_set: str) -> pd.DataFrame:
    f = cohort.features
    names = RADIOMIC_FEATURES if feature_set == "radiomic" else GENOMIC_FEATURES
    part = f[(f["feature_set"] == feature_set).to_numpy()]
    return pd.DataFrame(part["value"].to_numpy().reshape(-1, len(names)), columns=list(names))


# ------------------------------------------------------------------ determinism
def _assert_chunks_equal(a: DemoChunk, b: DemoChunk) -> None:
    pd.testing.assert_frame_equal(a.patients, b.patients)
    pd.testing.assert_frame_equal(a.latent, b.latent)
    fa, fb = a.features.copy(), b.features.copy()
    for f in (fa, fb):
        for col in ("patient_id", "feature_set", "feature"):
            f[col] = f[col].astype(str)
    pd.testing.assert_frame_equal(fa, fb)


def test_same_seed_gives_identical_frames():
    _assert_chunks_equal(generate_cohort_frames(300, 11), generate_cohort_frames(300, 11))


def test_different_seed_gives_different_cohort():
    a, b = generate_cohort_frames(300, 11), generate_cohort_frames(300, 12)
    assert not a.patients["age_years"].equals(b.patients["age_years"])
    assert not np.array_equal(a.features["value"].to_numpy(), b.features["value"].to_numpy())


@pytest.mark.parametrize("chunk_size", [1, 60, 100, 349, 350, 1000])
def test_chunking_does_not_change_the_cohort(monkeypatch, chunk_size):
    monkeypatch.setattr(demo, "BLOCK_SIZE", 100)   # several blocks in a small cohort
    whole = generate_cohort_frames(350, 5)
    chunks = list(generate_cohort(350, 5, chunk_size=chunk_size))
    assert all(len(c.patients) <= chunk_size for c in chunks)
    assert sum(len(c.patients) for c in chunks) == 350
    k = len(RADIOMIC_FEATURES) + len(GENOMIC_FEATURES)
    for c in chunks:
        assert len(c.features) == k * len(c.patients) == k * len(c.latent)
        assert c.features["patient_id"].astype(str).unique().tolist() == \
            c.patients["patient_id"].tolist()
    joined = DemoChunk(
        patients=pd.concat([c.patients for c in chunks], ignore_index=True),
        features=pd.concat([c.features.astype({"patient_id": str}) for c in chunks],
                           ignore_index=True),
        latent=pd.concat([c.latent for c in chunks], ignore_index=True),
    )
    _assert_chunks_equal(whole, joined)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_patients": 9, "seed": 1}, "n_patients"),
        ({"n_patients": 5_000_001, "seed": 1}, "n_patients"),
        ({"n_patients": 100.0, "seed": 1}, "n_patients"),
        ({"n_patients": True, "seed": 1}, "n_patients"),
        ({"n_patients": 100, "seed": -1}, "seed"),
        ({"n_patients": 100, "seed": "1"}, "seed"),
        ({"n_patients": 100, "seed": 1, "chunk_size": 0}, "chunk_size"),
    ],
)
def test_bad_arguments_raise_one_line_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        next(generate_cohort(**kwargs))
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------ contract
def test_patients_columns_and_dtypes(patients):
    assert tuple(patients.columns) == config.PATIENT_COLUMN_NAMES
    for col in config.PATIENT_COLUMNS:
        assert str(patients[col.name].dtype) == KIND_DTYPES[col.kind], col.name


def test_levels_ranges_and_required(patients):
    for col in config.PATIENT_COLUMNS:
        s = patients[col.name]
        if col.required:
            assert s.notna().all(), col.name
        if col.levels:
            assert set(s.dropna().unique()) <= set(col.levels), col.name
        if col.lo is not None:
            assert (s.dropna().astype(float) >= col.lo).all(), col.name
        if col.hi is not None:
            assert (s.dropna().astype(float) <= col.hi).all(), col.name
    assert set(patients["center"]) == set(demo.CENTRES)


def test_identifiers_dates_and_outcomes(patients):
    ids = patients["patient_id"]
    assert ids.is_unique
    assert ids.str.fullmatch(r"DEMO-\d{6}").all()
    assert ids.iloc[0] == "DEMO-000001"
    dates = patients["diagnosis_date"]
    assert dates.min() >= pd.Timestamp("2010-01-01") and dates.max() <= pd.Timestamp("2023-12-31")
    for col in ("os_months", "os_event", "pfs_months", "pfs_event"):
        assert patients[col].notna().all(), col
    assert (patients["pfs_months"] <= patients["os_months"]).all()
    # a death is also a progression-free-survival event
    assert patients.loc[patients["os_event"].to_numpy(bool), "pfs_event"].all()
    external = _is(patients["center"], "Centre D")
    assert (_is(patients["cohort_split"], "external") == external).all()
    assert (patients.loc[~patients["hepatectomy"].to_numpy(bool), "growth_pattern"].isna()).all()


def test_derived_columns_equal_the_clinical_module(patients):
    recomputed = clinical.add_derived_columns(patients.drop(columns=list(clinical.DERIVED_COLUMNS)))
    for col in clinical.DERIVED_COLUMNS:
        pd.testing.assert_series_equal(
            patients[col], recomputed[col].astype(patients[col].dtype), check_names=False)


def test_ras_status_never_wild_type_when_a_test_is_missing(patients):
    untested = patients["kras"].isna() | patients["nras"].isna()
    assert untested.mean() > 0.05
    assert not _is(patients["ras_status"][untested], "wild-type").any()
    unknown = _is(patients["ras_status"], "unknown")
    assert 0.05 <= unknown.mean() <= 0.20


def test_anti_egfr_only_for_ras_wild_type(patients):
    egfr = _is(patients["biologic"], "anti-EGFR")
    assert egfr.sum() > 100
    assert _is(patients["ras_status"][egfr], "wild-type").all()
    right_share = _is(patients["primary_side"][egfr], "right").mean()
    assert 0.10 <= right_share <= 0.28          # target ~19% right-sided


def test_features_and_latent_contract(cohort, patients):
    f = cohort.features
    assert list(f.columns) == ["patient_id", "feature_set", "feature", "value"]
    assert set(f["feature_set"].astype(str)) == {"radiomic", "genomic"}
    assert str(f["value"].dtype) == "float64" and np.isfinite(f["value"]).all()
    per_patient = f.groupby("patient_id", observed=True).size()
    assert (per_patient == len(RADIOMIC_FEATURES) + len(GENOMIC_FEATURES)).all()
    assert 18 <= len(RADIOMIC_FEATURES) <= 25 and 28 <= len(GENOMIC_FEATURES) <= 36
    assert {"EREG_expression_z", "AREG_expression_z"} <= set(GENOMIC_FEATURES)
    assert list(cohort.latent.columns) == ["patient_id", "imaging_phenotype", "imaging_signal",
                                           "genomic_signal", "response_latent",
                                           "best_size_ratio", "progression_months"]
    assert cohort.latent["patient_id"].equals(patients["patient_id"])


# ------------------------------------------------------------------ calibration
def _share(patients, col, value):
    s = patients[col].dropna()
    return float((s == value).mean())


PREVALENCE_TARGETS = [
    # (description, function of the patients frame, low, high)
    ("male", lambda p: _share(p, "sex", "male"), 0.56, 0.64),
    ("right-sided", lambda p: _share(p, "primary_side", "right"), 0.25, 0.34),
    ("left colon", lambda p: _share(p, "primary_side", "left"), 0.38, 0.50),
    ("node-positive", lambda p: float(p["node_positive"].dropna().mean()), 0.50, 0.60),
    ("synchronous", lambda p: float(p["synchronous"].mean()), 0.42, 0.56),
    ("extrahepatic", lambda p: float(p["extrahepatic_disease"].mean()), 0.09, 0.16),
    ("CEA > 200", lambda p: float((p["cea_ng_ml"].dropna() > 200).mean()), 0.04, 0.10),
    ("KRAS mutant (tested)", lambda p: _share(p, "kras", "mutant"), 0.35, 0.46),
    ("NRAS mutant (tested)", lambda p: _share(p, "nras", "mutant"), 0.02, 0.06),
    ("BRAF V600E (tested)", lambda p: _share(p, "braf_v600e", "mutant"), 0.03, 0.065),
    ("MSI-H (tested)", lambda p: _share(p, "msi", "MSI-H"), 0.02, 0.05),
    ("HER2 amplified (tested)", lambda p: _share(p, "her2", "amplified"), 0.015, 0.05),
    ("hepatectomy", lambda p: float(p["hepatectomy"].mean()), 0.50, 0.62),
    ("external centre", lambda p: _share(p, "cohort_split", "external"), 0.20, 0.30),
    ("objective response", lambda p: float(p["responder"].dropna().mean()), 0.43, 0.55),
    ("Fong high (3-5)", lambda p: _share(p, "fong_group", "high"), 0.28, 0.45),
]


@pytest.mark.parametrize("name, measure, low, high", PREVALENCE_TARGETS,
                         ids=[t[0] for t in PREVALENCE_TARGETS])
def test_prevalence_targets(patients, name, measure, low, high):
    assert low <= measure(patients) <= high


@pytest.mark.parametrize("marker", ["kras", "nras", "braf_v600e", "msi", "her2"])
def test_molecular_tests_not_done_5_to_15_percent(patients, marker):
    assert 0.05 <= patients[marker].isna().mean() <= 0.15


def test_continuous_distributions(patients):
    age = patients["age_years"]
    assert 60 <= age.median() <= 64
    assert 51 <= age.quantile(0.25) <= 57 and 67 <= age.quantile(0.75) <= 73
    assert 6 <= patients["disease_free_interval_months"].median() <= 14
    assert 14 <= patients["cea_ng_ml"].median() <= 26
    resected = patients[patients["hepatectomy"].to_numpy(bool)]
    # the lesion targets come from a resected series
    assert resected["n_liver_lesions"].median() == 1
    assert 0.45 <= (resected["n_liver_lesions"] == 1).mean() <= 0.58
    assert 3.0 <= resected["max_diameter_cm"].median() <= 4.2
    assert resected["n_liver_lesions"].max() >= 10


def test_survival_after_hepatectomy_and_unresectable(patients):
    hep = patients["hepatectomy"].to_numpy(bool)
    t, e = patients["os_months"], patients["os_event"]
    assert 0.35 <= _km_at(t[hep], e[hep], 60) <= 0.48
    assert 42 <= _km_median(t[hep], e[hep]) <= 58
    assert 22 <= _km_median(t[~hep], e[~hep]) <= 35


def test_fong_score_orders_five_year_survival(patients):
    hep = patients["hepatectomy"].to_numpy(bool)
    os5 = []
    for score in range(6):
        m = hep & _is(patients["fong_score"], score)
        os5.append(_km_at(patients["os_months"][m], patients["os_event"][m], 60) if m.sum() else None)
    assert all(a > b for a, b in zip(os5[:4], os5[1:5])), os5       # 0 > 1 > 2 > 3 > 4
    assert 0.52 <= os5[0] <= 0.72 and 0.08 <= os5[4] <= 0.28
    if os5[5] is not None:                                             # few patients score 5
        assert os5[5] <= os5[3]


def test_tbs_zones_separate_survival(patients):
    hep = patients["hepatectomy"].to_numpy(bool)
    os5 = {z: _km_at(patients["os_months"][hep & _is(patients["tbs_zone"], z)],
                     patients["os_event"][hep & _is(patients["tbs_zone"], z)], 60)
           for z in ("low", "medium", "high")}
    assert os5["low"] > os5["medium"] + 0.08 > os5["high"] + 0.16, os5


def _cox_frame(patients: pd.DataFrame) -> pd.DataFrame:
    keep = (~_is(patients["ras_status"], "unknown") & patients["braf_v600e"].notna().to_numpy()
            & patients["node_positive"].notna().to_numpy() & patients["cea_ng_ml"].notna().to_numpy())
    p = patients[keep]
    return pd.DataFrame({
        "os_months": p["os_months"].to_numpy(float),
        "os_event": p["os_event"].to_numpy(int),
        "ras_mutant": _is(p["ras_status"], "mutant").astype(int),
        "braf_v600e": _is(p["braf_v600e"], "mutant").astype(int),
        "right_sided": _is(p["primary_side"], "right").astype(int),
        "node_positive": p["node_positive"].to_numpy(int),
        "cea_over_200": (p["cea_ng_ml"] > 200).to_numpy(int),
        "extrahepatic": p["extrahepatic_disease"].to_numpy(int),
        "multiple_lesions": (p["n_liver_lesions"] > 1).to_numpy(int),
        "largest_over_3cm": (p["max_diameter_cm"] > 3).to_numpy(int),
    })


HAZARD_RATIO_TARGETS = {
    # literature range widened by about one standard error at n = 5,000
    "ras_mutant": (1.3, 1.9),
    "braf_v600e": (1.8, 3.2),
    "right_sided": (1.25, 1.7),
    "node_positive": (1.35, 1.85),
    "cea_over_200": (1.4, 2.4),
    "extrahepatic": (1.5, 2.4),
    "multiple_lesions": (1.35, 2.0),
    "largest_over_3cm": (1.25, 1.8),
}


def test_overall_survival_hazard_ratios(patients):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = CoxPHFitter().fit(_cox_frame(patients), "os_months", "os_event")
    hr = fit.hazard_ratios_
    outside = {k: round(float(hr[k]), 2) for k, (lo, hi) in HAZARD_RATIO_TARGETS.items()
               if not lo <= hr[k] <= hi}
    assert not outside, outside


def test_response_is_predictable_but_not_perfectly(patients):
    """Logistic regression on the pre-treatment inputs: out-of-fold AUC 0.65-0.85."""
    p = patients[patients["responder"].notna().to_numpy()]
    y = p["responder"].to_numpy(int)
    numeric = pd.DataFrame({
        "age_years": p["age_years"],
        "log_cea": np.log(p["cea_ng_ml"].fillna(p["cea_ng_ml"].median())),
        "tumour_burden_score": p["tumour_burden_score"],
        "disease_free_interval_months": p["disease_free_interval_months"],
    })
    categorical = ["primary_side", "ras_status", "braf_v600e", "msi", "her2", "grade", "biologic",
                   "regimen", "node_positive", "extrahepatic_disease", "bilobar", "synchronous"]
    dummies = pd.get_dummies(p[categorical].astype(str), drop_first=True)
    x = pd.concat([numeric.reset_index(drop=True), dummies.reset_index(drop=True)], axis=1)
    x = ((x - x.mean()) / x.std().replace(0, 1)).astype(float)
    oof = cross_val_predict(LogisticRegression(max_iter=2000), x, y,
                            cv=StratifiedKFold(5, shuffle=True, random_state=0),
                            method="predict_proba")[:, 1]
    assert 0.65 <= roc_auc_score(y, oof) <= 0.85


def test_anti_egfr_response_rates(patients):
    wt = _is(patients["ras_status"], "wild-type")
    resp = patients["responder"]
    egfr = resp[wt & _is(patients["biologic"], "anti-EGFR")].dropna().mean()
    chemo = resp[wt & _is(patients["biologic"], "none")].dropna().mean()
    assert 0.52 <= egfr <= 0.70 and 0.25 <= chemo <= 0.45 and egfr - chemo >= 0.15


def test_multi_omics_story(cohort, patients):
    """Genomic RF ~0.8 under anti-EGFR, imaging signal ~0.75, no signal under chemo alone,
    predicted responders live longer without progression under anti-EGFR."""
    wt = _is(patients["ras_status"], "wild-type") & patients["responder"].notna().to_numpy()
    egfr = wt & _is(patients["biologic"], "anti-EGFR")
    chemo = wt & _is(patients["biologic"], "none")
    genomic = _features_wide(cohort, "genomic")
    y = patients["responder"].to_numpy()
    y_egfr, y_chemo = y[egfr].astype(int), y[chemo].astype(int)

    forest = RandomForestClassifier(n_estimators=200, min_samples_leaf=5, random_state=0, n_jobs=2)
    oof = cross_val_predict(forest, genomic[egfr], y_egfr,
                            cv=StratifiedKFold(5, shuffle=True, random_state=0),
                            method="predict_proba")[:, 1]
    assert 0.74 <= roc_auc_score(y_egfr, oof) <= 0.87

    imaging = cohort.latent["imaging_signal"].to_numpy()
    assert 0.69 <= roc_auc_score(y_egfr, imaging[egfr]) <= 0.81

    forest.fit(genomic[egfr], y_egfr)
    assert 0.40 <= roc_auc_score(y_chemo, forest.predict_proba(genomic[chemo])[:, 1]) <= 0.62

    surv = pd.DataFrame({"pfs_months": patients["pfs_months"].to_numpy(float)[egfr],
                         "pfs_event": patients["pfs_event"].to_numpy(int)[egfr],
                         "predicted_responder": (oof >= 0.5).astype(int)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hr = CoxPHFitter().fit(surv, "pfs_months", "pfs_event").hazard_ratios_["predicted_responder"]
    assert 0.35 <= hr <= 0.70


def test_radiomic_features_and_the_ct_phenotype_come_from_pre_treatment_biology_only():
    """Changing what happens after the baseline CT (treatment, response, surgery) cannot
    change a pre-treatment feature: the radiomic matrix takes no such argument, and the
    phenotype is the same for two patients that differ only downstream."""
    import inspect

    from crlm.ingest import demo_features

    params = set(inspect.signature(demo_features.radiomic_matrix).parameters)
    assert not params & {"hepatectomy", "is_responder", "anti_egfr", "biologic", "regimen"}
    cohort = generate_cohort_frames(400, 5)
    patients = cohort.patients.set_index("patient_id")
    # the phenotype carries no information on the resection beyond what biology gives
    resected = patients["hepatectomy"].astype("boolean").fillna(False).to_numpy(bool)
    wide = cohort.features.pivot(index="patient_id", columns="feature", values="value")
    parenchyma = wide.loc[patients.index, "liver_parenchyma_hu_mean"].to_numpy()
    gap = parenchyma[resected].mean() - parenchyma[~resected].mean()
    assert abs(gap) < 2.0  # was -4 HU when it was drawn from the resection
