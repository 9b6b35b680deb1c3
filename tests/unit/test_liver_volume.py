"""Total liver volume as a measurement kind: the demo draws it from the same latent biology
without moving any other value, the import converts its units and refuses bad values, and
the pages and sequence models handle it."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from crlm import config
from crlm.analysis import trajectories as tr
from crlm.ingest import trajectories
from crlm.ingest.demo import generate_cohort_frames
from crlm.ingest.measurements_import import MeasurementMapping, prepare_measurements
from crlm.models.sequence import build_sequences

SEED = 20240601
# sha256 of pandas' row hashes of the CEA, lesion-count and target-sum rows for (400
# patients, SEED), taken from the generator before the liver volume existed
EARLIER_DIGEST_400 = "ead5b35fd46e55608e6f1b2e3b7d449eba1f2f08a621ee868f3454aa26cadc60"
STR = {"patient_id": str, "kind": str, "unit": str, "source": str}


def _digest(frame: pd.DataFrame) -> str:
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(rows.tobytes()).hexdigest()


@pytest.fixture(scope="module")
def measurements() -> pd.DataFrame:
    return generate_cohort_frames(400, SEED).measurements.astype(STR)


def test_every_earlier_measurement_keeps_its_value(measurements):
    earlier = measurements[measurements["kind"] != "liver_volume"].reset_index(drop=True)
    assert len(earlier) == 5223
    assert _digest(earlier) == EARLIER_DIGEST_400


def test_the_volume_is_measured_at_every_ct_visit_within_its_range(measurements):
    m = measurements
    volume = m[m["kind"] == "liver_volume"]
    spec = config.MEASUREMENT_KINDS["liver_volume"]
    assert len(volume) > 0 and (volume["unit"] == "mL").all()
    assert volume["value"].between(spec.lo, spec.hi).all()
    ct = m[m["kind"] == "target_lesion_sum"]
    assert set(zip(volume["patient_id"], volume["day"])) == set(zip(ct["patient_id"], ct["day"]))
    # most baseline livers are in the normal adult range (docs/data.md)
    base = volume[volume["day"] <= 0]["value"]
    assert 1300 <= base.median() <= 1800, base.median()
    assert base.between(1000, 2200).mean() > 0.8


def _simulate(diameter: float, latent: float, n: int = 200, seed: int = 3) -> pd.DataFrame:
    """``n`` alike patients, CT at every visit; (baseline, restaging) volume per patient."""
    m = trajectories.simulate_measurements(
        np.random.default_rng(seed), np.array([f"P{i}" for i in range(n)]),
        response_latent=np.full(n, latent), complete=np.zeros(n, bool),
        progressive=np.zeros(n, bool), response_evaluable=np.ones(n, bool),
        n_lesions=np.full(n, 2), max_diameter_cm=np.full(n, diameter),
        cea_ng_ml=np.full(n, 20.0), cea_recorded=np.ones(n, bool),
        progression_months=np.full(n, 40.0), followed_months=np.full(n, 30.0),
        hepatectomy=np.zeros(n, bool), initially_resectable=np.zeros(n, bool))
    v = m[(m["kind"] == "liver_volume").to_numpy()].astype(STR)
    base = v[v["day"] <= 0].set_index("patient_id")["value"]
    restaging = v[(v["day"] > 0) & (v["day"] <= config.RESTAGING_LANDMARK_DAYS)]
    restaging = restaging.set_index("patient_id")["value"]
    return pd.DataFrame({"baseline": base, "restaging": restaging}).dropna()


def test_a_shrinking_small_tumour_barely_changes_the_liver():
    # a good responder with a 2 cm lesion: the target sum falls by about half, the liver
    # by the tumour's few mL only (within volumetry noise)
    small = _simulate(2.0, latent=2.0)
    change = small["restaging"] / small["baseline"] - 1
    assert abs(change.median()) < 0.02 and (change.abs() < 0.15).all()


def test_heavy_burden_enlarges_the_liver_and_its_response_shrinks_it():
    heavy = _simulate(12.0, latent=2.0)
    small = _simulate(2.0, latent=2.0)
    # hepatomegaly: a 12 cm lesion (and a second of 35-90 % of it) adds over 500 mL
    assert heavy["baseline"].median() > small["baseline"].median() + 500
    shrink = heavy["restaging"] / heavy["baseline"] - 1
    assert shrink.median() < -0.15
    # stable disease with a sum near its baseline (about -3 %): the liver keeps its size
    stable = _simulate(12.0, latent=-1.5)
    assert abs((stable["restaging"] / stable["baseline"] - 1).median()) < 0.1


def test_the_import_converts_litres_and_cubic_centimetres():
    frame = pd.DataFrame({"patient_id": ["a", "a", "a", "b"], "day": ["0", "56", "112", "0"],
                          "kind": ["liver_volume"] * 4, "value": ["1.62", "1,5", "1580", "1700"],
                          "unit": ["L", "l", "cm3", "mL"]})
    known = pd.Series(["S1", "S2"], index=["a", "b"])
    accepted, problems = prepare_measurements(frame, MeasurementMapping(), known)
    assert problems.empty, problems
    assert accepted["value"].tolist() == [1620.0, 1500.0, 1580.0, 1700.0]
    assert set(accepted["unit"]) == {"mL"}
    # a mapping's default unit for the kind
    mapping = MeasurementMapping.from_dict({"unit": {"default": {"liver_volume": "L"}}})
    accepted, problems = prepare_measurements(frame.drop(columns="unit").iloc[:1], mapping, known)
    assert problems.empty and accepted["value"].tolist() == [1620.0]


def test_the_import_refuses_negative_and_implausible_volumes_by_row():
    frame = pd.DataFrame({"patient_id": ["a"] * 4, "day": ["0", "56", "112", "168"],
                          "kind": ["liver_volume"] * 4,
                          "value": ["1.5", "-1.2", "0.1", "25"], "unit": ["L"] * 4})
    accepted, problems = prepare_measurements(frame, MeasurementMapping(),
                                              pd.Series(["S1"], index=["a"]))
    assert accepted["value"].tolist() == [1500.0]
    by_row = problems.set_index("row")["problem"]
    assert by_row[2] == "negative: a measurement cannot be below 0"
    # 0.1 L is 100 mL and 25 L is 25,000 mL: both outside the plausible range, named
    for row in (3, 4):
        assert "outside the allowed range for Total liver volume (300 to 10,000 mL" in by_row[row]


def test_the_sequence_inputs_ignore_the_volume():
    base = pd.DataFrame({"patient_id": ["A", "A", "A", "A"], "day": [0, 0, 56, 56],
                         "kind": ["cea", "target_lesion_sum", "cea", "target_lesion_sum"],
                         "value": [20.0, 5.0, 8.0, 3.0]})
    with_volume = pd.concat([base, pd.DataFrame({
        "patient_id": ["A", "A"], "day": [0, 56], "kind": ["liver_volume"] * 2,
        "value": [1900.0, 1700.0]})], ignore_index=True)
    a = build_sequences(base, ["A"], 70)
    b = build_sequences(with_volume, ["A"], 70)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_the_pages_offer_the_volume_and_a_case_series_reads_it():
    from crlm.ui.trajectories import KIND_CHOICES

    assert set(KIND_CHOICES) == set(config.MEASUREMENT_KINDS)
    series = tr.case_series(pd.DataFrame({"day": [0.0, 56.0], "value": [2400.0, 2100.0]}),
                            "liver_volume")
    assert not series.problems and series.summary["baseline"] == 2400.0
    assert series.summary["last_change_pct"] == pytest.approx(-12.5)
    assert tr.axis_label("liver_volume").startswith("Total liver volume")
    bad = tr.case_series(pd.DataFrame({"day": [0.0], "value": [-5.0]}), "liver_volume")
    assert bad.problems and "Total liver volume must be a number from 300" in bad.problems[0]
