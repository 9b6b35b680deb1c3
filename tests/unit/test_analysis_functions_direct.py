"""Analysis functions the pages call that are otherwise tested only through the pages:
``survival_models.model_outcomes``, ``sequence_report.trajectory_comparison``,
``snapshot.filter_from_key``, ``cea_landmark.read_ahead`` and
``subgroup_effects.variable_label`` / ``ranked_rows``. Each result is checked against
the same quantity computed directly (pandas on the same rows, ``crlm.stats``)."""
from __future__ import annotations

import datetime as dt
import threading

import numpy as np
import pandas as pd
import pytest

from crlm import config
from crlm import store as st
from crlm.analysis import cea_landmark as cl
from crlm.analysis import prefetch
from crlm.analysis import sequence_report as sr
from crlm.analysis import subgroup_effects as sg
from crlm.analysis import survival_models as sm
from crlm.analysis import trajectories as tr
from crlm.analysis.pages import SUBGROUP_COLUMNS
from crlm.analysis.snapshot import close_stores, filter_from_key, filter_key, snapshot
from crlm.config import PATIENT_COLUMN_NAMES
from crlm.models.tasks import TASKS
from crlm.store import CohortFilter, survival_rows
from crlm.stats.survival_discrimination import compare_concordance, harrell_c
from tests.support.demo_snapshot import demo_snapshot
from tests.support.own_variables import LABELS, write_own_cohort

N = 120
LANDMARK_TASK = "pfs_after_restaging"


# -- a cohort with predictions of survival models ------------------------------------
def _patients(n: int = N, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: [None] * n for c in PATIENT_COLUMN_NAMES})
    frame["patient_id"] = [f"P{i:03d}" for i in range(n)]
    frame["age_years"] = rng.uniform(40, 85, n).round(1)
    frame["center"] = rng.choice(["A", "B"], n)
    # every PFS beyond the restaging landmark (the landmark task's patients)
    frame["pfs_months"] = (TASKS[LANDMARK_TASK].landmark_months + 0.5
                           + rng.exponential(10, n)).round(2)
    frame["pfs_event"] = (rng.random(n) < 0.75).astype(object)
    frame["os_months"] = (frame["pfs_months"] + rng.exponential(15, n)).round(2)
    frame["os_event"] = (rng.random(n) < 0.6).astype(object)
    frame.loc[n - 6:, ["os_months", "os_event"]] = None     # OS unknown
    frame.loc[n - 3:, ["pfs_months", "pfs_event"]] = None   # PFS unknown too
    return frame


def _save(s, patients: pd.DataFrame, model_id: str, task: str, ids, score, split="out-of-fold"):
    st.save_model(s, {"model_id": model_id, "name": model_id, "family": model_id.split(".")[1],
                      "task": task, "cohort": "c"},
                  pd.DataFrame({"patient_id": list(ids), "split": split, "fold": 1,
                                "score": score}))


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """A store whose cohort ``c`` has out-of-fold predictions of two OS models and of the
    three compared sequence models (each scoring some patients only), and external
    predictions of the reference; returns (path, patients)."""
    path = tmp_path_factory.mktemp("scored") / "s.duckdb"
    patients = _patients()
    rng = np.random.default_rng(9)
    ids = patients["patient_id"].to_numpy()
    risk = -np.log(patients["pfs_months"].fillna(20).to_numpy(float))
    with st.Store(path) as s:
        st.save_cohort(s, "c", patients, kind="imported")
        _save(s, patients, "os_risk.cox", "os_risk", ids, risk + rng.normal(0, 0.5, N))
        _save(s, patients, "os_risk.rsf", "os_risk", ids[10:], rng.normal(size=N - 10))
        t = LANDMARK_TASK
        _save(s, patients, f"{t}.gru_sequence", t, ids, risk + rng.normal(0, 0.3, N))
        _save(s, patients, f"{t}.gru_baseline", t, ids[::2], rng.normal(size=len(ids[::2])))
        _save(s, patients, f"{t}.change_rule", t, ids[5:], risk[5:] + rng.normal(0, 1, N - 5))
    yield path, patients
    close_stores()


def _predictions(path, task: str, split: str = "out-of-fold", filt=None) -> pd.DataFrame:
    """What the Models page reads (``crlm.ui.survival_models._predictions``)."""
    t = TASKS[task]
    with st.Store(path) as s:
        return st.load_predictions(s, filt or CohortFilter(cohort="c"), task=task, split=split,
                                   columns=(t.time_column, t.event_column))


# -- survival_models.model_outcomes ----------------------------------------------------
def test_model_outcomes_are_the_models_patients_with_a_known_outcome(scored):
    path, _ = scored
    preds = _predictions(path, "os_risk")
    for model_id in ("os_risk.cox", "os_risk.rsf"):
        t, e, s = sm.model_outcomes(preds, model_id, "os_months", "os_event")
        part = preds[(preds["model_id"] == model_id) & preds["os_months"].notna()
                     & preds["os_event"].notna()]
        assert 0 < len(part) < (preds["model_id"] == model_id).sum()
        np.testing.assert_array_equal(t, part["os_months"].to_numpy(float))
        np.testing.assert_array_equal(e, part["os_event"].to_numpy(bool))
        np.testing.assert_array_equal(s, part["score"].to_numpy(float))
        assert t.dtype == float and e.dtype == bool and s.dtype == float
    # what the concordance table counts is exactly these patients
    table = sm.concordance_table(preds, "os_months", "os_event").set_index("model_id")
    t, e, s = sm.model_outcomes(preds, "os_risk.rsf", "os_months", "os_event")
    assert table.loc["os_risk.rsf", "n"] == len(t) and table.loc["os_risk.rsf", "events"] == e.sum()
    assert table.loc["os_risk.rsf", "harrell_c"] == pytest.approx(harrell_c(t, e, s).concordance)


def test_model_outcomes_follow_the_filter(scored):
    path, patients = scored
    filt = CohortFilter(cohort="c", categories={"center": ("A",)}, ranges={"age_years": (50, 75)})
    t, e, s = sm.model_outcomes(_predictions(path, "os_risk", filt=filt), "os_risk.cox",
                                "os_months", "os_event")
    want = patients[(patients["center"] == "A") & patients["age_years"].between(50, 75)
                    & patients["os_months"].notna()]
    np.testing.assert_array_equal(t, want["os_months"].to_numpy(float))
    np.testing.assert_array_equal(e, want["os_event"].to_numpy(bool))
    assert len(s) == len(want)


def test_model_outcomes_drop_unusable_rows_and_keep_one_per_patient():
    preds = pd.DataFrame({
        "patient_id": ["a", "b", "c", "d", "e", "f", "a", "g"],
        "model_id": ["m", "m", "m", "m", "m", "m", "m", "other"],
        "score": [0.1, np.nan, 0.3, 0.4, 0.5, 0.6, 0.9, 0.7],
        "os_months": [5.0, 6.0, 0.0, -1.0, np.nan, 8.0, 5.0, 9.0],
        "os_event": [1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0]})
    t, e, s = sm.model_outcomes(preds, "m", "os_months", "os_event")
    # b: no score, c/d: no positive time, e: no time; a's second row is a duplicate
    assert t.tolist() == [5.0, 8.0] and e.tolist() == [True, False] and s.tolist() == [0.1, 0.6]
    t, e, s = sm.model_outcomes(preds, "unknown", "os_months", "os_event")
    assert len(t) == len(e) == len(s) == 0 and e.dtype == bool
    # a patient whose first row cannot be used is counted by the next one that can
    twice = pd.DataFrame({"patient_id": ["a", "a", "b"], "model_id": ["m"] * 3,
                          "score": [np.nan, 0.4, 0.2], "os_months": [5.0, 5.0, 7.0],
                          "os_event": [1.0, 1.0, 0.0]})
    t, e, s = sm.model_outcomes(twice, "m", "os_months", "os_event")
    assert t.tolist() == [5.0, 7.0] and s.tolist() == [0.4, 0.2]


# -- sequence_report.trajectory_comparison ---------------------------------------------
def _by_hand(preds: pd.DataFrame, models: tuple[str, ...]) -> tuple[pd.DataFrame, np.ndarray,
                                                                    np.ndarray, dict]:
    """The patients every model scored, with a known PFS, their time from the landmark and
    each model's score, with pandas."""
    task = TASKS[LANDMARK_TASK]
    known = preds.dropna(subset=["score", "pfs_months", "pfs_event"])
    sets = [set(known.loc[known["model_id"] == f"{LANDMARK_TASK}.{m}", "patient_id"])
            for m in models]
    common = sorted(set.intersection(*sets))
    rows = known[known["patient_id"].isin(common)]
    outcome = rows.drop_duplicates("patient_id").set_index("patient_id").loc[common]
    time = outcome["pfs_months"].to_numpy(float) - task.landmark_months
    event = outcome["pfs_event"].to_numpy(bool)
    scores = {m: rows[rows["model_id"] == f"{LANDMARK_TASK}.{m}"].set_index("patient_id")
              .loc[common, "score"].to_numpy(float) for m in models}
    return outcome, time, event, scores


def test_the_comparison_is_harrells_c_on_the_patients_every_model_scored(scored):
    path, _ = scored
    preds = _predictions(path, LANDMARK_TASK)
    result = sr.trajectory_comparison(preds, LANDMARK_TASK, "out-of-fold")
    outcome, time, event, scores = _by_hand(preds, sr.COMPARED)
    assert 20 < len(outcome) < N // 2
    assert (result.task, result.split) == (LANDMARK_TASK, "out-of-fold")
    assert (result.n_patients, result.events) == (len(outcome), event.sum())
    table = result.table.set_index("model")
    assert table.index.tolist() == list(sr.COMPARED)
    for model in sr.COMPARED:
        c = harrell_c(time, event, scores[model])
        assert table.loc[model, "c_index"] == pytest.approx(c.concordance, rel=1e-12)
        assert (table.loc[model, "c_ci_lower"], table.loc[model, "c_ci_upper"]) == \
            pytest.approx((c.ci_lower, c.ci_upper), rel=1e-12)
    assert table.loc[sr.REFERENCE, ["difference", "ci_lower", "ci_upper", "p_value"]].isna().all()
    for model in sr.COMPARED[1:]:
        paired = compare_concordance(time, event, scores[sr.REFERENCE], scores[model])
        assert table.loc[model, "difference"] == pytest.approx(paired.difference, rel=1e-12)
        assert table.loc[model, "difference"] == pytest.approx(
            table.loc[sr.REFERENCE, "c_index"] - table.loc[model, "c_index"], rel=1e-9)
        assert table.loc[model, "p_value"] == pytest.approx(paired.p_value, rel=1e-9)


def test_patients_followed_less_than_the_landmark_are_left_out(scored):
    """Not at risk at the landmark: not compared (their time from it would be negative)."""
    path, _ = scored
    preds = _predictions(path, LANDMARK_TASK)
    whole = sr.trajectory_comparison(preds, LANDMARK_TASK, "out-of-fold")
    early = list(_by_hand(preds, sr.COMPARED)[0].index[:5])   # scored by every model
    short = preds.assign(pfs_months=preds["pfs_months"].where(
        ~preds["patient_id"].isin(early), TASKS[LANDMARK_TASK].landmark_months - 1.0))
    result = sr.trajectory_comparison(short, LANDMARK_TASK, "out-of-fold")
    kept = preds[~preds["patient_id"].isin(early)]
    outcome, time, event, scores = _by_hand(kept, sr.COMPARED)
    assert result.n_patients == len(outcome) < whole.n_patients
    assert result.table.set_index("model").loc[sr.REFERENCE, "c_index"] == pytest.approx(
        harrell_c(time, event, scores[sr.REFERENCE]).concordance, rel=1e-12)


def test_the_comparison_follows_the_models_chosen_and_the_models_present(scored):
    path, _ = scored
    preds = _predictions(path, LANDMARK_TASK)
    two = ("gru_sequence", "change_rule")
    result = sr.trajectory_comparison(preds, LANDMARK_TASK, "out-of-fold", models=two)
    outcome, time, event, scores = _by_hand(preds, two)
    assert result.table["model"].tolist() == list(two) and result.n_patients == len(outcome)
    assert len(outcome) > len(_by_hand(preds, sr.COMPARED)[0])   # gru_baseline scored half
    assert result.table["c_index"].iloc[1] == pytest.approx(
        harrell_c(time, event, scores["change_rule"]).concordance, rel=1e-12)
    # a comparator without any prediction is left out, not an empty row
    without = preds[preds["model_id"] != f"{LANDMARK_TASK}.gru_baseline"]
    result = sr.trajectory_comparison(without, LANDMARK_TASK, "out-of-fold")
    assert result.table["model"].tolist() == list(two) and result.n_patients == len(outcome)


def test_no_reference_gives_none_and_no_comparable_pair_a_reason(scored):
    path, _ = scored
    preds = _predictions(path, LANDMARK_TASK)
    no_ref = preds[preds["model_id"] != f"{LANDMARK_TASK}.{sr.REFERENCE}"]
    assert sr.trajectory_comparison(no_ref, LANDMARK_TASK, "out-of-fold") is None
    assert sr.trajectory_comparison(preds.iloc[:0], LANDMARK_TASK, "out-of-fold") is None
    no_events = preds.assign(pfs_event=False)
    with pytest.raises(ValueError, match="external: too few patients"):
        sr.trajectory_comparison(no_events, LANDMARK_TASK, "external")
    # the store's external split holds no prediction: the command line's report skips it
    with st.Store(path) as s:
        assert sr.sequence_comparison(s, "c", LANDMARK_TASK, "external") is None
        whole = sr.sequence_comparison(s, "c", LANDMARK_TASK)
    assert whole.table.equals(sr.trajectory_comparison(preds, LANDMARK_TASK,
                                                       "out-of-fold").table)


# -- snapshot.filter_from_key ----------------------------------------------------------
ROUND_TRIP = [
    CohortFilter(cohort="demo"),
    CohortFilter(cohort="c", categories={"ras_status": ("wild-type", "unknown"),
                                         "hepatectomy": ("yes",), "center": ("B", "A")}),
    CohortFilter(cohort="c", ranges={"age_years": (45.5, None), "cea_ng_ml": (None, 200)},
                 date_from=dt.date(2001, 2, 3), date_to=dt.date(2019, 12, 31)),
    CohortFilter(cohort="own", extra_levels={"arm": ("Obs", "Lev+5FU"), "dose": ("unknown",)},
                 extra_ranges={"flag": (1, 1), "weight": (None, 80.25)}),
]


@pytest.mark.parametrize("filt", ROUND_TRIP)
def test_a_filter_key_reads_back_as_the_filter(filt):
    key = filter_key(filt)
    assert hash(key) == hash(filter_key(filt))
    back = filter_from_key(key)
    assert back == filt and filter_key(back) == key
    assert back.where() == filt.where()        # the same query, parameters included


def test_the_key_does_not_depend_on_the_order_choices_were_made():
    one = CohortFilter(cohort="c", categories={"sex": ("male", "female"), "msi": ("MSS",)},
                       ranges={"age_years": (50, 70)})
    other = CohortFilter(cohort="c", ranges={"age_years": (50.0, 70.0)},
                         categories={"msi": ("MSS",), "sex": ("female", "male")})
    assert filter_key(one) == filter_key(other)
    assert filter_key(one) != filter_key(CohortFilter(cohort="c", categories={"sex": ("male",)}))
    # the labels of own variables describe a filter; they select nothing and are not kept
    labelled = CohortFilter(cohort="own", extra_levels={"arm": ("Obs",)},
                            extra_labels={"arm": "Treatment arm"})
    assert filter_from_key(filter_key(labelled)) == labelled


def test_the_key_selects_the_same_patients_as_the_filter(tmp_path):
    own = write_own_cohort(tmp_path / "own.duckdb", n=120)
    filt = CohortFilter(cohort="own", categories={"sex": ("female",), "ras_status": ("unknown",
                                                                                   "mutant")},
                        ranges={"age_years": (45, None)}, extra_levels={"arm": ("Lev", "unknown")},
                        extra_ranges={"dose": (2.5, 8)})
    with st.Store(own.path) as s:
        direct = st.load_cohort(s, filt, ["patient_id"])
        keyed = st.load_cohort(s, filter_from_key(filter_key(filt)), ["patient_id"])
    p = own.patients
    want = p[(p["sex"] == "female") & (p["ras_status"].isna() | (p["ras_status"] == "mutant"))
             & (p["age_years"] >= 45) & (p["arm"].isna() | (p["arm"] == "Lev"))
             & p["dose"].between(2.5, 8)]
    assert len(want) > 0
    assert keyed["patient_id"].tolist() == direct["patient_id"].tolist() == \
        want["patient_id"].tolist()


@pytest.mark.parametrize("filt", [
    CohortFilter(cohort="c", ranges={"age_years": (45.123456789, None)}),
    CohortFilter(cohort="c", categories={"center": ("Hospital X, Paris", "A\\B", "C")}),
    CohortFilter(cohort="own", extra_levels={"arm": ("Lev,5FU", "Obs")}),
    CohortFilter(cohort="own", extra_levels={"band": ("1..2",)}),
    CohortFilter(cohort="own", extra_ranges={"dose": (1e-7, 0.1 + 0.2)}),
])
def test_every_filter_reads_back_from_its_key_and_its_link(filt):
    """Neither the key nor the link loses a digit of a bound or splits a level at a comma."""
    assert filter_from_key(filter_key(filt)) == filt
    assert CohortFilter.from_query_params(filt.to_query_params()) == filt


def test_a_link_keeps_whole_bounds_short():
    filt = CohortFilter(cohort="c", ranges={"age_years": (45.0, 70.5)})
    assert filt.to_query_params()["age_years"] == "45..70.5"


# -- cea_landmark.read_ahead -----------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with demo_snapshot(tmp_path_factory.mktemp("demo"), 200, 5) as snap:
        yield snap


def _fresh_caches():
    for fn in (cl._measured, cl._cea_rows, cl.cea_landmark, cl.has_measurements):
        fn.cache_clear()


def test_read_ahead_makes_the_whole_cohort_reads_and_changes_no_result(demo, monkeypatch):
    key = filter_key(CohortFilter(cohort="demo", ranges={"age_years": (40, 80)}))
    _fresh_caches()
    want = cl.cea_landmark(demo, key, "OS")            # computed without reading ahead
    _fresh_caches()
    reads = []
    original = survival_rows.cohort_landmark_values
    monkeypatch.setattr(survival_rows, "cohort_landmark_values",
                        lambda *a, **kw: reads.append(a[1]) or original(*a, **kw))
    assert cl._cea_rows.cached(demo, "OS") is None and cl._measured.cached(demo) is None
    thread = cl.read_ahead(demo, "OS")
    assert isinstance(thread, threading.Thread) and thread.daemon
    thread.join(30)
    assert not thread.is_alive() and reads == ["demo"]
    assert cl._measured.cached(demo) is not None
    rows = cl._cea_rows.cached(demo, "OS")
    assert rows is not None and cl._cea_rows.cached(demo, "PFS") is None
    got = cl.cea_landmark(demo, key, "OS")
    assert reads == ["demo"]                              # the page read nothing again
    assert cl._cea_rows(demo, "OS") is rows
    pd.testing.assert_frame_equal(got.data.frame, want.data.frame)
    assert got.data.excluded == want.data.excluded and list(got.curves) == list(want.curves)
    assert got.test.p_value == want.test.p_value
    # and the result is the frame computation on the filtered cohort
    filt = filter_from_key(key)
    s = demo.store()
    early = tr.cea_response_from_values(st.load_landmark_values(
        s, filt, "cea", landmark_day=tr.LANDMARK_DAY, window=tr.LANDMARK_WINDOW_DAYS))
    groups = early.set_index("patient_id")["cea_response"].map(cl.CEA_GROUPS)
    expected = tr.landmark_frame(st.load_cohort(s, filt), groups, time_column="os_months",
                                 event_column="os_event")
    assert len(expected.frame) > 20
    pd.testing.assert_frame_equal(got.data.frame, expected.frame.drop(columns="patient_id"))


def test_read_ahead_returns_at_once_and_a_page_waits_for_the_read_under_way(demo, monkeypatch):
    _fresh_caches()
    started, release, reads = threading.Event(), threading.Event(), []
    original = survival_rows.cohort_landmark_values

    def slow(*a, **kw):
        reads.append(a[1])
        started.set()
        release.wait(10)
        return original(*a, **kw)

    monkeypatch.setattr(survival_rows, "cohort_landmark_values", slow)
    key = filter_key(CohortFilter(cohort="demo"))
    with prefetch.page_run():                # a page is running: the read still starts
        thread = cl.read_ahead(demo, "PFS")
        assert started.wait(10) and thread.is_alive()
        threading.Timer(0.2, release.set).start()
        result = cl.cea_landmark(demo, key, "PFS")    # waits for the read, reads nothing
    thread.join(10)
    assert reads == ["demo"] and not thread.is_alive()
    assert len(result.data.frame) > 0 and set(result.data.frame["group"]) <= set(
        cl.CEA_GROUPS.values())


def test_a_failed_read_ahead_is_met_by_the_page_with_its_message(demo):
    _fresh_caches()
    thread = cl.read_ahead(demo, "XYZ")
    thread.join(30)
    assert not thread.is_alive()
    assert cl._measured.cached(demo) is not None        # the reads before it were made
    assert cl._cea_rows.cached(demo, "XYZ") is None
    with pytest.raises(ValueError, match="unknown endpoint 'XYZ'"):
        cl.cea_landmark(demo, filter_key(CohortFilter(cohort="demo")), "XYZ")


# -- subgroup_effects.variable_label and ranked_rows ----------------------------------
def test_a_contract_column_is_named_by_its_contract_label():
    columns = [*SUBGROUP_COLUMNS, *sg.MORE_SUBGROUP_COLUMNS, "sex"]
    labels = [sg.variable_label(None, c) for c in columns]     # no snapshot needed
    assert labels == [config.COLUMNS_BY_NAME[c].label for c in columns]
    # the forest keys its rows by these labels: two subgroup variables never share one
    assert len(set(labels)) == len(labels)
    with pytest.raises(ValueError, match="not_a_column"):
        sg.variable_label(None, "not_a_column")


def test_an_own_variable_is_named_by_its_mapping_label(tmp_path):
    own = write_own_cohort(tmp_path / "own.duckdb", n=40)
    try:
        snap = snapshot(own.path, own.cohort)
        for name, label in LABELS.items():
            assert sg.variable_label(snap, f"extra:{name}") == label
        assert sg.variable_label(snap, "ras_status") == config.COLUMNS_BY_NAME["ras_status"].label
    finally:
        close_stores()


def test_ranked_rows_sort_by_variable_as_chosen_then_level_in_display_order():
    rng = np.random.default_rng(1)
    records = [("RAS status", lv) for lv in ("unknown", "wild-type", "mutant")] + \
              [("Centre", lv) for lv in ("Z", "B", "A")] + \
              [("Dose", lv) for lv in ("> 5", "odd", "≤ 5", "other")]
    frame = pd.DataFrame(records, columns=["variable", "level"]).sample(frac=1, random_state=3)
    frame["n"] = rng.integers(1, 50, len(frame))
    frame = frame.reset_index(drop=True)
    before = frame.copy()
    labels = ["Centre", "RAS status", "Dose"]
    order = {"Centre": ("A", "B", "Z"), "RAS status": ("mutant", "wild-type", "unknown"),
             "Dose": ("≤ 5", "> 5")}
    got = sg.ranked_rows(frame, labels, order)
    # by hand: the variable's place among labels, the level's among its order (levels
    # not in it after those that are, in the order they came)
    rank = [(labels.index(v), order[v].index(lv) if lv in order[v] else 99, i)
            for i, (v, lv) in enumerate(zip(frame["variable"], frame["level"]))]
    want = frame.iloc[[r[2] for r in sorted(rank)]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    assert got["level"].tolist()[:3] == ["A", "B", "Z"]
    assert got["level"].tolist()[6:8] == ["≤ 5", "> 5"]
    assert got.index.tolist() == list(range(len(frame)))
    pd.testing.assert_frame_equal(frame, before)                # the input is left as it was
    # a variable not among the labels comes last
    extra = pd.concat([pd.DataFrame({"variable": ["Other"], "level": ["x"], "n": [1]}), frame])
    assert sg.ranked_rows(extra, labels, order)["variable"].iloc[-1] == "Other"
