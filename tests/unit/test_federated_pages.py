"""Every analysis page opened on a site's store that holds a federated model of each
family trained federated (``crlm.federated.protocol.FAMILIES``; model kind
``federated``): Cohort, Models, Survival, Subgroups and Score a case run without an
exception and list the federated models like any other.

The site store is site A of a small demo split by centre, after one short in-process
run per family across sites A and B (no Flower processes; a few rounds: the pages need
registered models, not converged ones)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from crlm import store as st
from crlm.federated import site as site_mod
from crlm.federated.coordinator import LocalTransport, run_consortium
from crlm.federated.demo import split_by_centre
from crlm.federated.protocol import FAMILIES, RunSpec
from crlm.models import kinds
from crlm.models.families import get_family

pytestmark = pytest.mark.slow
APP = str(Path(__file__).resolve().parents[2] / "app.py")
TASK_OF = {"binary": "response", "survival": "os_risk"}
MODEL_IDS = {f: f"{TASK_OF[kind]}.federated_{f}" for f, kind in FAMILIES.items()}
NAMES = {f: f"Federated {get_family(f).label}" for f in FAMILIES}
ENTRIES = {"max_diameter_cm": 4.0, "n_liver_lesions": 3, "cea_ng_ml": 35.0, "kras": "wild-type",
           "nras": "wild-type", "node_positive": "yes", "biologic": "anti-EGFR",
           "primary_side": "left", "age_years": 64.0, "extrahepatic_disease": "no"}


@pytest.fixture(scope="module")
def site_store(tmp_path_factory) -> Path:
    from crlm.cli import main

    root = tmp_path_factory.mktemp("fed_pages")
    pooled = root / "pooled.duckdb"
    assert main(["--db", str(pooled), "-q", "demo", "--patients", "300", "--no-train",
                 "--no-imaging"]) == 0
    with st.Store(pooled) as s:
        paths = split_by_centre(s, "demo", root / "sites")
    sites = {name.split()[-1]: (str(p), "demo") for name, p in paths.items() if name[-1] in "AB"}
    # every message re-reads a site's rows from its store; they are the same for the whole
    # run, so here they are read once per site and run (seconds instead of a minute)
    real, read = site_mod.SiteData, {}

    def read_once(store, cohort, spec, site):
        if (site, spec.run_id) not in read:
            read[(site, spec.run_id)] = real(store, cohort, spec, site)
        return read[(site, spec.run_id)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(site_mod, "SiteData", read_once)
        for family, kind in FAMILIES.items():
            spec = RunSpec(run_id=f"pages-{family}", task=TASK_OF[kind], family=family, folds=2,
                           max_rounds=1)
            result = run_consortium(LocalTransport(sites), spec, log=lambda *_: None)
            assert set(result.registered) == {"A", "B"}, family
    return Path(sites["A"][0])


@pytest.fixture()
def page(site_store, monkeypatch):
    monkeypatch.setenv("CRLM_DB", str(site_store))
    monkeypatch.setenv("CRLM_DEMO_MODE", "1")

    def open_page(name: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=180).run()
        at.switch_page(f"views/{name}.py").run()
        assert not at.exception, at.exception
        return at
    yield open_page
    from crlm.ui import loaders

    loaders.release_stores()


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_site_store_holds_a_federated_model_of_each_family(site_store):
    with st.Store(site_store, read_only=True) as s:
        models = st.load_models(s).set_index("model_id")
    assert set(MODEL_IDS.values()) <= set(models.index)
    assert set(models.loc[list(MODEL_IDS.values()), "kind"]) == {kinds.FEDERATED}
    assert kinds.FEDERATED in kinds.KINDS


def test_models_page_lists_each_federated_model(page):
    at = page("models")
    for task in sorted(set(TASK_OF.values())):
        at.selectbox(key="models_task").set_value(task)
        _run(at)
        mine = [f for f, kind in FAMILIES.items() if TASK_OF[kind] == task]
        shown = at.selectbox(key=f"models_card_{task}").options
        assert {NAMES[f] for f in mine} <= set(shown), (task, shown)
        for family in mine:  # each one's card
            at.selectbox(key=f"models_card_{task}").set_value(MODEL_IDS[family])
            _run(at)


def test_survival_page_splits_by_each_federated_model(page):
    at = page("survival")
    choices = at.selectbox(key="survival_split_by")
    for family, kind in FAMILIES.items():
        if kind == "survival":
            assert any(NAMES[family] in o for o in choices.options), choices.options
            at.selectbox(key="survival_split_by").set_value(f"risk group:{MODEL_IDS[family]}")
            _run(at)
            assert at.dataframe and len(at.dataframe[0].value) == 3  # tertiles
    at.selectbox(key="survival_split_by").set_value("predicted responder")
    _run(at)
    for family, kind in FAMILIES.items():
        if kind == "binary":
            assert NAMES[family] in at.selectbox(key="shared_model_response").options
            at.selectbox(key="shared_model_response").set_value(MODEL_IDS[family])
            _run(at)


def test_subgroups_and_cohort_pages_use_each_federated_response_model(page):
    for name in ("subgroups", "cohort"):
        at = page(name)
        if name == "cohort":
            at.selectbox(key="cohort_split_by").set_value("predicted responder")
            _run(at)
        for family, kind in FAMILIES.items():
            if kind == "binary":
                assert NAMES[family] in at.selectbox(key="shared_model_response").options, name
                at.selectbox(key="shared_model_response").set_value(MODEL_IDS[family])
                _run(at)


def test_score_page_scores_a_case_with_every_federated_model(page):
    at = page("score")
    for name, value in ENTRIES.items():
        if isinstance(value, str):
            at.selectbox(key=f"score_in_{name}").set_value(value)
        else:
            at.number_input(key=f"score_in_{name}").set_value(value)
    _run(at)
    at.button(key="score_run").click()
    _run(at)
    assert not at.error, [e.value for e in at.error]
    shown = " ".join(" ".join(map(str, d.value.astype(str).to_numpy().ravel()))
                     for d in at.dataframe)
    for family in FAMILIES:
        assert NAMES[family] in shown, family
