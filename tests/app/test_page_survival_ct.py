"""A survival-only imaging cohort end to end under AppTest: a TCIA-layout clinical table
and its CT + SEG tree imported, ``train --cohort`` with the CT survival models (CT Cox,
attention over lesions), and the Survival page splitting the cohort by each CT model's
predicted risk tertiles."""
from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP
from tests.own_cohorts import PASSWORD, add_clinician

pytestmark = pytest.mark.slow
N = 24
RISK = "risk group:"
CT_MODELS = ("os_risk.cnn_cox", "os_risk.attention_mil")


@pytest.fixture(scope="module")
def imaging_store(tmp_path_factory):
    from crlm.cli import main
    from crlm.ingest.image_import import import_images
    from crlm.ingest.importer import import_file
    from crlm.ingest.synthetic_tree import TreePatient, write_tree
    from crlm.store import Store
    from tests.support.tcia import tcia_frame

    mp = pytest.MonkeyPatch()
    mp.setenv("CRLM_DEID_KEY", "survival-ct-page-key")
    root = tmp_path_factory.mktemp("survival_ct")
    ids = [f"CRLM-CT-{1001 + i}" for i in range(N)]
    frame = tcia_frame(N, seed=9)
    frame["Patient-ID"] = ids
    frame.to_csv(root / "clinical.csv", index=False)
    rng = np.random.default_rng(3)
    write_tree(root / "tree", [TreePatient(pid, n_tumours=int(rng.integers(1, 4)),
                                           phenotype=float(rng.normal()), n_slices=12,
                                           size_px=64) for pid in ids], seed=1)
    path = root / "crlm.duckdb"
    with Store(path) as store:
        assert import_file(store, root / "clinical.csv", cohort="tcia").written
        assert import_images(store, root / "tree", cohort="tcia").report.n_imported == N
    assert main(["--db", str(path), "-q", "train", "--cohort", "tcia", "--task", "os_risk",
                 "--family", "cnn_cox", "--family", "attention_mil", "--folds", "2",
                 "--fast"]) == 0
    yield path
    mp.undo()


def _signed_in(path, monkeypatch, tmp_path) -> AppTest:
    monkeypatch.delenv("CRLM_DEMO_MODE", raising=False)
    monkeypatch.setenv("CRLM_USERS", str(add_clinician(tmp_path)))
    monkeypatch.setenv("CRLM_DB", str(path))
    at = AppTest.from_file(APP, default_timeout=240)
    at.query_params["cohort"] = "tcia"
    at.run()
    at.text_input[0].input("cara")
    at.text_input[1].input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def _expected_tertiles(path, model_id: str) -> dict[str, int]:
    from crlm.analysis.survival_models import risk_groups
    from crlm.store import CohortFilter, Store, load_cohort, load_predictions

    with Store(path, create=False) as store:
        preds = load_predictions(store, CohortFilter(cohort="tcia"), model_id=model_id)
        cohort = load_cohort(store, CohortFilter(cohort="tcia"))
    preds = preds[preds["split"].isin(["out-of-fold", "external"])]
    known = cohort.set_index("patient_id")[["os_months", "os_event"]].dropna()
    preds = preds[preds["patient_id"].isin(known.index)]
    groups = risk_groups(preds["score"]).groups
    names, counts = np.unique(groups, return_counts=True)
    return dict(zip(names.tolist(), counts.tolist()))


def test_the_survival_page_splits_by_each_ct_models_risk_tertiles(
        imaging_store, monkeypatch, tmp_path):
    at = _signed_in(imaging_store, monkeypatch, tmp_path)
    at.switch_page("views/survival.py").run()
    assert not at.exception, at.exception
    split = at.selectbox(key="survival_split_by")
    risk_options = [o for o in split.options if o.startswith("Predicted risk:")]
    assert len(risk_options) == len(CT_MODELS), split.options  # the two CT models, no other
    assert any("CT lesion CNN, Cox head" in o for o in risk_options), risk_options
    assert any("CT attention-MIL over lesions" in o for o in risk_options), risk_options
    for model_id in CT_MODELS:
        at.selectbox(key="survival_split_by").set_value(RISK + model_id).run()
        assert not at.exception, (model_id, at.exception)
        table = at.dataframe[0].value
        expected = _expected_tertiles(imaging_store, model_id)
        assert table["Group"].tolist() == ["Low risk", "Intermediate risk", "High risk"]
        assert dict(zip(table["Group"], table["n"].astype(int))) == expected
        assert sum(expected.values()) == N
        assert table.iloc[0, -1] == "reference"
        captions = " ".join(c.value for c in at.caption)
        assert "Tertiles of the model's risk score" in captions
        assert at.get("plotly_chart")[0].key == "survival_km"
