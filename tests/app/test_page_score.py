"""The "Score a case" page under Streamlit's AppTest, on the session's demo store."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from crlm import cases, store
from crlm.models import score_cases

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[2] / "app.py")
MODES = ("Form", "Table of cases (CSV / Excel)", "CT series (DICOM .zip) + form")
ENTRIES = {"max_diameter_cm": 4.0, "n_liver_lesions": 3, "cea_ng_ml": 35.0,
           "kras": "wild-type", "nras": "wild-type", "node_positive": "yes",
           "biologic": "anti-EGFR", "primary_side": "left", "age_years": 64.0,
           "extrahepatic_disease": "no"}
# the tasks that apply to ENTRIES (no hepatectomy: the post-resection tasks do not)
SHOWN_TASKS = ("response", "anti_egfr_benefit", "os_risk", "pfs_risk")


@pytest.fixture()
def score_store(demo_store_path):
    """The store for checks, closed after each test together with the app's cached
    connection, so that a browser test later in the session can open the file."""
    s = store.Store(demo_store_path)
    yield s
    s.close()


@pytest.fixture()
def at(demo_store_path) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=180)
    app.run()
    app.switch_page("views/score.py").run()
    assert not app.exception, app.exception
    return app


def _fill(at: AppTest, entries=ENTRIES) -> None:
    for name, value in entries.items():
        key = f"score_in_{name}"
        if isinstance(value, str):
            at.selectbox(key=key).set_value(value)
        else:
            at.number_input(key=key).set_value(value)
    at.run()


def _shown_scores(at: AppTest) -> pd.DataFrame:
    """The page's score tables, one per task in the page's task order."""
    tables = [d.value for d in at.dataframe if "predicted_class" in d.value.columns]
    assert len(tables) == len(SHOWN_TASKS)  # every pre-treatment task applies to the case
    return pd.concat([t.assign(task=cases.task_label(task))
                      for t, task in zip(tables, SHOWN_TASKS)], ignore_index=True)


def _errors(at: AppTest) -> str:
    return " | ".join(e.value for e in at.error)


def test_form_scores_equal_score_cases(at, score_store):
    _fill(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Tumour burden score (TBS)"] == "5.0"
    assert metrics["TBS zone"] == "medium" and metrics["RAS status"] == "wild-type"
    assert metrics["GAME score"] == "3"  # CEA > 20, node-positive, TBS 3-9
    at.button(key="score_run").click().run()
    assert not at.exception, at.exception
    assert not at.error, _errors(at)
    shown = _shown_scores(at)
    frame = cases.case_from_form(cases.form_values(ENTRIES))
    expected = cases.scores_table(score_cases(frame, store=score_store, cohort="demo").table)
    registry = store.load_models(score_store, cohort="demo")
    labels = dict(zip(registry["model_id"], registry["name"]))
    expected["model"] = expected["model_id"].map(labels)
    merged = shown.merge(expected, on=["task", "model", "version"], suffixes=("_page", "_direct"))
    assert len(merged) == len(expected) == len(shown) > 10
    assert (merged["shown_score_page"] - merged["shown_score_direct"]).abs().max() < 1e-12
    assert (merged["predicted_class_page"] == merged["predicted_class_direct"]).all()
    assert set(shown["task"]) == {cases.task_label(t) for t in SHOWN_TASKS}
    # anti-EGFR benefit applies (RAS wild-type, anti-EGFR planned) and the page says where
    # the case falls: distribution, ROC, KM, contributions; similar patients listed
    assert len(at.get("plotly_chart")) >= 4
    similar = [d.value for d in at.dataframe if "distance" in d.value.columns]
    assert similar and len(similar[0]) == 5 and similar[0]["patient_id"].str.startswith("DEMO").all()
    assert any("Research use only, not a medical device" in w.value for w in at.warning) or \
        any("Research use only" in c.value for c in at.caption)
    assert any("Imputed by the models" in w.value for w in at.warning)


def test_threshold_from_models_page_sets_the_class(at):
    _fill(at)
    at.button(key="score_run").click().run()
    assert "shared_model_response" in at.session_state  # shared with the other pages
    model_id = at.session_state["shared_model_response"]
    at.session_state[f"shared_threshold_{model_id}"] = 0.999
    at.run()
    table = _shown_scores(at)
    chosen = table[table["threshold"] == 0.999]
    assert len(chosen) == 1 and chosen.iloc[0]["predicted_class"] == "non-responder"
    at.session_state[f"shared_threshold_{model_id}"] = 0.0
    at.run()
    table = _shown_scores(at)
    assert table[table["threshold"] == 0.0].iloc[0]["predicted_class"] == "responder"


def test_batch_upload_scores_good_rows_and_lists_bad_ones(at, score_store):
    before = store.table_checksums(score_store)
    at.radio(key="score_mode").set_value(MODES[1]).run()
    text = ("age_years,sex,max_diameter_cm,n_liver_lesions,kras,cea_ng_ml\n"
            "55,male,3.5,2,mutant,12\n"
            "61,female,45,1,wild-type,8\n"
            "70,female,2.0,1,banana,\n"
            "48,male,,4,,300\n")
    at.file_uploader(key="score_batch_upload").set_value(("cases.csv", text.encode(), "text/csv"))
    at.run()
    assert not at.exception, at.exception
    assert any("2 of 4 rows have problems" in w.value for w in at.warning)
    problems = [d.value for d in at.dataframe if "problem" in d.value.columns][0]
    assert set(problems["row"]) == {3, 4}
    assert set(problems["column"]) == {"max_diameter_cm", "kras"}
    summary = [d.value for d in at.dataframe if "case" in d.value.columns and
               "response.logistic" in d.value.columns][0]
    assert list(summary["case"]) == ["row-2", "row-5"]
    assert store.table_checksums(score_store) == before


@pytest.mark.parametrize("mode,name,data,fragment", [
    (1, "cases.pdf", b"%PDF-1.4", "not .pdf"),
    (1, "cases.csv", b"", "empty"),
    (1, "cases.csv", b"foo,bar\n1,2\n", "none of the file's columns"),
    (1, "cases.csv", b"age_years,max_diameter_cm\n150,3\n", "outside the allowed range"),
    (2, "series.zip", None, "not a DICOM file"),
    (2, "notes.txt", b"hello", "not a DICOM upload"),
    (2, "empty.zip", b"", "empty"),
])
def test_bad_uploads_give_a_message_and_change_nothing(at, score_store, mode, name, data,
                                                       fragment):
    if data is None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("readme.txt", "not an image")
        data = buf.getvalue()
    before = store.table_checksums(score_store)
    at.radio(key="score_mode").set_value(MODES[mode]).run()
    key = "score_batch_upload" if mode == 1 else "score_ct_upload"
    at.file_uploader(key=key).set_value((name, data, "application/octet-stream")).run()
    assert not at.exception, at.exception
    messages = _errors(at) + " | " + " | ".join(w.value for w in at.warning) + " | " + \
        " | ".join(d.value.to_string() for d in at.dataframe if "problem" in d.value.columns)
    assert fragment in messages
    assert store.table_checksums(score_store) == before


def test_form_widgets_carry_the_contract_ranges_and_units(at):
    diameter = at.number_input(key="score_in_max_diameter_cm")
    assert diameter.label == "Largest lesion diameter (cm)"
    assert (diameter.min, diameter.max) == (0.1, 30.0)
    assert diameter.value is None  # unknown until entered
    assert at.number_input(key="score_in_cea_ng_ml").label == "CEA (ng/mL)"
    assert at.selectbox(key="score_in_kras").options[0] == "unknown"


def _shown_scores_present(at) -> bool:
    return any("predicted_class" in d.value.columns for d in at.dataframe)


def test_save_reopen_and_delete_with_audit(at, score_store):
    _fill(at)
    at.button(key="score_run").click().run()
    before = store.table_checksums(score_store)
    # an identifying label is refused and nothing is stored
    at.text_input(key="score_label").set_value("Mr Smith 12/03/1961").run()
    at.button(key="score_save").click().run()
    assert "Not saved" in _errors(at)
    assert store.table_checksums(score_store) == before
    # a plain label is saved with the case and its audit row
    at.text_input(key="score_label").set_value("MDT week 12, case 3").run()
    at.button(key="score_save").click().run()
    assert not at.exception, at.exception
    saved = [s.value for s in at.success if s.value.startswith("Saved as case")]
    assert saved
    case_id = int(saved[0].split()[-1].rstrip("."))
    record = store.load_case(score_store, case_id)
    assert record["label"] == "MDT week 12, case 3" and record["created_by"] == "demo"
    assert record["inputs"]["max_diameter_cm"] == 4.0 and record["inputs"]["kras"] == "wild-type"
    assert "patient_id" not in record["inputs"]
    assert {m["model_id"] for m in record["scores"]["models"]} >= {"response.logistic"}
    audit = store.load_audit_log(score_store)
    assert ((audit["action"] == "save_case") & (audit["object"] == f"case:{case_id}")).any()
    # reopen: clear the form, then reopen refills it and shows the saved scores
    at.button(key="score_clear").click().run()
    assert at.number_input(key="score_in_max_diameter_cm").value is None
    at.selectbox(key="score_saved_choice").set_value(case_id).run()
    at.button(key="score_reopen").click().run()
    assert not at.exception, at.exception
    assert at.number_input(key="score_in_max_diameter_cm").value == 4.0
    assert at.selectbox(key="score_in_kras").value == "wild-type"
    assert any(e.label.startswith(f"Scores as saved with case {case_id}") for e in at.expander)
    assert _shown_scores_present(at)
    # delete, with its audit row
    at.selectbox(key="score_saved_choice").set_value(case_id).run()
    at.button(key="score_delete").click().run()
    assert store.load_case(score_store, case_id) is None
    audit = store.load_audit_log(score_store)
    assert ((audit["action"] == "delete_case") & (audit["object"] == f"case:{case_id}")).any()


def test_ct_upload_with_seg_and_a_drawn_region(at, score_store, tmp_path):
    import pydicom.data

    from crlm.ingest.synthetic_ct import make_sample_cases

    sample = make_sample_cases(tmp_path, n=1)[0]
    at.radio(key="score_mode").set_value(MODES[2]).run()
    at.file_uploader(key="score_ct_upload").set_value(
        ("case_01.zip", open(sample.path, "rb").read(), "application/zip")).run()
    assert not at.exception, at.exception
    assert any("Lesion region from the DICOM SEG" in s.value for s in at.success)
    _fill(at, {"kras": "wild-type", "nras": "wild-type", "biologic": "anti-EGFR"})
    at.button(key="score_run").click().run()
    assert not at.exception, at.exception
    assert any("Lesion features used by the tabular models" in c.value for c in at.caption)
    assert _shown_scores_present(at)
    at.text_input(key="score_label").set_value("imaging case").run()
    at.button(key="score_save").click().run()
    case_id = int([s.value for s in at.success if s.value.startswith("Saved as case")][0]
                  .split()[-1].rstrip("."))
    meta = store.load_case(score_store, case_id)["image_metadata"]
    assert meta["n_slices"] == sample.shape_zyx[0] and meta["deidentified"] is True
    assert meta["lesion_region"]["source"] == "DICOM SEG"
    assert meta["lesion_features"]["max_diameter_cm"] > 0
    assert sample.patient_label not in str(meta)
    # a real scanner file without SEG: the lesion is marked with the slice viewer
    real = open(pydicom.data.get_testdata_file("CT_small.dcm"), "rb").read()
    at.file_uploader(key="score_ct_upload").set_value(("CT_small.dcm", real,
                                                       "application/dicom")).run()
    assert any("No DICOM SEG" in i.value for i in at.info)
    at.number_input(key="score_ct_radius").set_value(10.0).run()
    at.button(key="score_run").click().run()
    assert not at.exception, at.exception
    assert _shown_scores_present(at)


def test_a_ct_upload_whose_seg_cannot_be_read_says_so_and_asks_for_a_marked_lesion(at, tmp_path):
    from crlm.ingest.synthetic_ct import make_sample_cases
    from tests.support.dicom import with_seg

    def truncate(ds):
        ds.PixelData = ds.PixelData[:16]

    sample = make_sample_cases(tmp_path, n=1)[0]
    data = with_seg(open(sample.path, "rb").read(), truncate)
    at.radio(key="score_mode").set_value(MODES[2]).run()
    at.file_uploader(key="score_ct_upload").set_value(("case_01.zip", data,
                                                       "application/zip")).run()
    assert not at.exception, at.exception
    warned = " | ".join(w.value for w in at.warning)
    assert "The DICOM SEG in case_01.zip was not used" in warned
    assert "cannot decode the SEG pixels" in warned and "Mark the lesion on a slice" in warned
    assert not any("Lesion region from the DICOM SEG" in s.value for s in at.success)
    assert at.number_input(key="score_ct_radius").value > 0  # the lesion is marked instead


def _answers(at: AppTest) -> pd.DataFrame:
    return pd.concat([d.value for d in at.dataframe if "answer" in d.value.columns],
                     ignore_index=True)


def test_the_empty_form_gets_no_class_only_what_is_needed_and_grouped_reasons(at, score_store):
    at.button(key="score_run").click().run()
    assert not at.exception, at.exception
    answers = _answers(at)
    assert len(answers) and answers["answer"].str.startswith(
        "not enough information — needed:").all()
    assert answers["answer"].str.contains("Largest lesion diameter").any()
    raw = [d.value for d in at.dataframe if "predicted_class" in d.value.columns]
    classes = pd.concat(raw)["predicted_class"]
    assert not classes.isin(["responder", "non-responder", "high risk", "low risk"]).any()
    titles = [e.label for e in at.expander]
    n = len(store.load_models(score_store, cohort="demo", task="anti_egfr_benefit"))
    assert f"applies only to RAS wild-type patients with anti-EGFR planned: {n} models" in titles
    assert not [b for b in at.selectbox if b.key == "score_survival_model"]  # no curve


def test_a_case_gets_probabilities_with_sets_and_survival_at_1_3_5_years(at):
    _fill(at)
    at.button(key="score_run").click().run()
    assert not at.exception, at.exception
    answers = _answers(at)
    binary = answers[answers["answer"].str.startswith("probability of response")]
    assert len(binary) and binary["interval"].str.startswith("90% prediction set:").all()
    assert binary["calibration"].str.contains("out-of-fold calibration").all()
    survival = answers[answers["answer"].str.startswith("1 y")]
    assert len(survival) and survival["answer"].str.contains("3 y").all()
    forest = answers[answers["model"] == "Random survival forest"]     # OS and PFS
    assert forest["answer"].str.startswith("1 y").sum() >= 2, forest
    assert any("the 90% interval is the range" in c.value for c in at.caption)
    assert any(i.value.startswith("In one line: Response:") for i in at.info)
    at.radio(key="score_coverage").set_value(0.95).run()
    answers = _answers(at)
    assert answers.loc[answers["answer"].str.startswith("probability"),
                       "interval"].str.startswith("95% prediction set:").all()


def test_the_case_gets_its_prognosis_cluster_and_its_decision_tree_leaf(at, score_store):
    from crlm.cases.cluster import case_cluster
    from crlm.cases.tree_leaf import case_leaves
    from crlm.models import load_model

    _fill(at)
    at.button(key="score_run").click().run()
    assert not at.exception, at.exception
    frame = cases.case_from_form(cases.form_values(ENTRIES))
    cohort = store.load_cohort(score_store, store.CohortFilter(cohort="demo"))
    expected = case_cluster(frame, cohort)
    assert expected.assigned and expected.missing == ("disease_free_interval_months",)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Prognosis cluster"] == f"{expected.cluster} of {expected.k}"
    assert metrics["Cluster median OS"] == expected.median_text("OS")
    assert any(f"{expected.size:,} of the {expected.n_patients:,} patients" in c.value
               for c in at.caption)
    assert [p for p in at.get("page_link") if "Clusters page" in str(p.proto)]
    # the leaf of every decision tree that answered, as the trees score the case
    shown = [d.value for d in at.dataframe if "splits from the root" in d.value.columns]
    assert len(shown) == 1
    leaves = shown[0]
    scores = score_cases(frame, store=score_store, cohort="demo").table
    registry = store.load_models(score_store, cohort="demo")
    direct = case_leaves(frame, scores, registry, lambda rec: load_model(
        rec["model_id"], int(rec["version"]), folder=Path(rec["artefact_path"])))
    assert len(direct) >= 2 and len(leaves) == len(direct)   # response and anti-EGFR trees
    assert list(leaves["splits from the root"]) == [leaf.path_text for leaf in direct]
    assert leaves["leaf"].str.contains("responders among").all()
