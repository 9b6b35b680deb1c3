"""The whole-cohort reads made before a page asks (crlm.analysis.prefetch): after them, a
page's default analyses for a filter never seen make no whole-cohort read."""
from __future__ import annotations

import pytest

from crlm import store as st
from crlm.analysis import cea_landmark, cohort_summary as cs
from crlm.analysis import model_comparison as mc
from crlm.analysis import prefetch
from crlm.analysis import subgroup_effects as sg
from crlm.analysis import survival_split as ss
from crlm.analysis.pages import SUBGROUP_COLUMNS
from crlm.analysis.snapshot import clear_memos, filter_key, snapshot
from crlm.models import kinds


@pytest.fixture()
def snap(demo_store_path):
    clear_memos()
    prefetch.forget()
    yield snapshot(demo_store_path, "demo")
    clear_memos()
    prefetch.forget()


def test_default_model_is_the_pages_first_choice(snap):
    records = kinds.trained_only(st.load_models(snap.store(), cohort="demo", task="response"))
    model = prefetch.default_model(snap)
    best = max(records.itertuples(), key=lambda r: (r.metrics or {}).get("out_of_fold", {})
               .get("auc") or 0.0)
    assert model == best.model_id
    assert prefetch.default_model(snap, "no_such_task") is None


def test_after_the_reads_a_new_filter_reads_nothing_from_the_store(snap, monkeypatch):
    assert prefetch.warm_snapshot(snap) == []
    model = prefetch.default_model(snap)
    names = [name for name, _ in prefetch.snapshot_reads(snap)]
    assert any("Survival" in n for n in names) and any("Subgroups" in n for n in names)

    def not_prepared(*a, **k):
        raise AssertionError("a whole-cohort read was not prepared")

    from crlm.analysis import selection
    for module, name in ((cs, "load_coded_rows"), (ss, "load_cohort_predictions"),
                         (sg, "load_cohort_predictions"), (mc, "load_task_scores"),
                         (selection, "load_row_index"),
                         (ss.survival_rows, "cohort_endpoint_rows"),
                         (ss.survival_rows, "cohort_landmark_values"),
                         (ss.survival_rows, "cohort_measured")):
        monkeypatch.setattr(module, name, not_prepared)
    key = filter_key(st.CohortFilter(cohort="demo", ranges={"age_years": (41, 77)}))
    thr = 0.5
    assert cs.headline(snap, key).n_patients > 0
    cs.table_one(snap, key)
    cs.distributions(snap, key)
    assert ss.survival_split(snap, key, "OS", "predicted responder", "response", model, thr).n
    assert cea_landmark.has_measurements(snap, key)
    cea_landmark.cea_landmark(snap, key, "OS")
    columns = tuple(c for c in SUBGROUP_COLUMNS if c in cs.availability(snap).recorded
                    or c in ("kras", "center"))
    assert not sg.forest(snap, key, "response", model, thr, "OS", columns).empty
    sg.auc_by_level(snap, key, "response", model, columns)
    assert mc.model_rocs(snap, key, "response", "out-of-fold")


def test_a_failing_read_is_named_not_raised(snap, monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("store gone")

    monkeypatch.setattr(cea_landmark.survival_rows, "cohort_landmark_values", broken)
    assert prefetch.warm_snapshot(snap) == ["early CEA response"]


def test_one_thread_per_snapshot(snap):
    first = prefetch.warm_in_background(snap)
    assert prefetch.warm_in_background(snap) is first
    first.join(timeout=300)
    assert not first.is_alive()


def test_no_read_starts_while_a_page_runs(snap, monkeypatch):
    import threading
    import time

    made = []
    monkeypatch.setattr(prefetch, "snapshot_reads",
                        lambda s: [("one", lambda: made.append(threading.get_ident()))])
    with prefetch.page_run():
        thread = prefetch.warm_in_background(snap)
        time.sleep(0.3)
        assert made == [] and thread.is_alive()
    thread.join(timeout=30)
    assert len(made) == 1 and not thread.is_alive()


def test_closing_the_stores_drops_waiting_reads_and_waits_for_running_ones(snap, monkeypatch):
    import threading
    import time

    from crlm.analysis.snapshot import close_stores

    made, started, release = [], threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(5)
        made.append("slow")

    monkeypatch.setattr(prefetch, "snapshot_reads", lambda s: [("slow", slow)])
    with prefetch.page_run():          # the reads wait for the page run
        waiting = prefetch.warm_in_background(snap)
        t0 = time.perf_counter()
        close_stores()                 # no read was begun: nothing to wait for
        assert time.perf_counter() - t0 < 5 and not waiting.is_alive() and made == []
    running = prefetch.warm_in_background(snapshot(snap.path, "demo"))
    assert started.wait(10)
    threading.Timer(0.2, release.set).start()
    close_stores()                     # waits for the read under way
    assert made == ["slow"] and not running.is_alive()


def test_a_read_ahead_runs_beside_a_page_run(snap):
    made = []
    with prefetch.page_run():
        prefetch.ahead(lambda: made.append(1), lambda: 1 / 0, lambda: made.append(2)).join(10)
    assert made == [1, 2]
