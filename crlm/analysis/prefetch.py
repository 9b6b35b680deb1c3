"""The analysis pages' whole-cohort reads, made once per snapshot before a page asks.

Every analysis page starts from data of the whole cohort that no filter changes: the
cohort's rows, a model's out-of-fold and external scores beside each patient's endpoint,
the early CEA response of each patient. Each is read once per snapshot (``memo``) and a
filter then only selects patients from it. At 10^6 patients each such read takes about
0.5–1.5 s, so the page that first needs one pays for it. ``warm_snapshot`` makes those
reads for the pages' default choices (the response model with the best stored
out-of-fold AUC, overall survival) as soon as the server first sees a snapshot: at its
start, and after each write to the cohort (a new snapshot). ``warm_in_background`` runs it
in a daemon thread, once per snapshot; a page asking for a read still in progress waits
for it (``memo`` computes a result once) instead of reading again. The pages come first:
while a page runs (``page_run``), the thread starts no new read, so a page opened while
the reads are under way competes with one read at most.

Only reads that no filter changes are made here, never a filter's results: the first page
a user opens still computes everything its filter asks for.
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import threading
from typing import Callable, Iterator

from crlm import store as st
from crlm.analysis import cea_landmark, cohort_summary, trajectory_sample
from crlm.analysis import model_comparison as mc
from crlm.analysis import subgroup_effects as sg
from crlm.analysis import survival_split as ss
from crlm.analysis.selection import row_index
from crlm.analysis.pages import SUBGROUP_COLUMNS
from crlm.analysis.snapshot import _BEFORE_CLOSE, Snapshot
from crlm.models import kinds

DEFAULT_TASK = "response"
DEFAULT_ENDPOINT = "OS"
MODEL_SPLITS = ("out-of-fold", "external")

_LOG = logging.getLogger(__name__)
_THREADS: dict[Snapshot, threading.Thread] = {}
_AHEAD: list[threading.Thread] = []
_LOCK = threading.Lock()
_RUNS = threading.Condition()
_ACTIVE = [0]   # page runs under way
_CLOSING = [False]   # the stores are closing: no new read


@contextlib.contextmanager
def page_run() -> Iterator[None]:
    """Mark a page run (a user waits for it): no new read starts until every run ends."""
    with _RUNS:
        _ACTIVE[0] += 1
    try:
        yield
    finally:
        with _RUNS:
            _ACTIVE[0] -= 1
            if not _ACTIVE[0]:
                _RUNS.notify_all()


def _after_page_runs() -> bool:
    """Wait until no page runs; False when the stores are closing (start no read)."""
    with _RUNS:
        _RUNS.wait_for(lambda: not _ACTIVE[0] or _CLOSING[0])
        return not _CLOSING[0]


def default_model(snap: Snapshot, task: str = DEFAULT_TASK) -> str | None:
    """The trained model of ``task`` the pages choose first (best stored out-of-fold AUC),
    or None when the cohort has none."""
    records = kinds.trained_only(st.load_models(snap.store(), cohort=snap.cohort, task=task))
    if records.empty:
        return None
    return mc.models_by_auc(records.set_index("model_id"))[0]


def snapshot_reads(snap: Snapshot) -> list[tuple[str, Callable[[], object]]]:
    """(name, read) of each whole-cohort read of the pages, in the order the pages need
    them; each read is the ``memo``-cached function a page calls."""
    reads: list[tuple[str, Callable[[], object]]] = [
        ("row index", lambda: row_index(snap)),
        ("Cohort page rows", lambda: cohort_summary.availability(snap)),
        ("measurement kinds", lambda: trajectory_sample.cohort_kinds(snap)),
        ("Cohort page trajectories", lambda: trajectory_sample.prepared(snap)),
    ]
    model = default_model(snap)
    if model is not None:
        reads += [(f"Models page scores ({split})", lambda s=split: mc.cohort_scores(
            snap, DEFAULT_TASK, s)) for split in MODEL_SPLITS]
        reads += [
            ("Survival page rows", lambda: ss._cohort_rows(
                snap, DEFAULT_ENDPOINT, "predicted responder", DEFAULT_TASK, model)),
            ("Subgroups page rows", lambda: sg.endpoint_values(
                snap, DEFAULT_TASK, model, DEFAULT_ENDPOINT)),
            ("Subgroups page event times", lambda: sg.event_ranks(
                snap, DEFAULT_TASK, model, DEFAULT_ENDPOINT)),
            ("Subgroups page targets", lambda: sg.target_values(snap, DEFAULT_TASK, model)),
            ("Subgroups page score order", lambda: sg.score_order(snap, DEFAULT_TASK, model)),
        ]
        recorded = st.load_recorded_columns(snap.store(), snap.cohort, SUBGROUP_COLUMNS)
        reads += [(f"Subgroups page levels of {column}", lambda c=column: sg.contract_levels(
            snap, DEFAULT_TASK, model, c)) for column in recorded]
    reads += [
        ("measured patients", lambda: cea_landmark._measured(snap)),
        ("early CEA response", lambda: cea_landmark._cea_rows(snap, DEFAULT_ENDPOINT)),
    ]
    return reads


def warm_snapshot(snap: Snapshot) -> list[str]:
    """Make every read of ``snapshot_reads``, each once no page is running; returns the
    names of those that failed (a read that fails here fails again, with its message, on
    the page that needs it)."""
    failed: list[str] = []
    if not _after_page_runs():
        return failed
    try:
        reads = snapshot_reads(snap)
    except Exception:   # noqa: BLE001 - the store changed or closed: the pages read it
        _LOG.debug("no reads to prepare for cohort %r", snap.cohort, exc_info=True)
        return ["the list of reads"]
    for name, read in reads:
        if not _after_page_runs():
            break
        try:
            read()
        except Exception:   # noqa: BLE001 - see above
            _LOG.debug("could not prepare %s", name, exc_info=True)
            failed.append(name)
    return failed


def ahead(*reads: Callable[[], object]) -> threading.Thread:
    """Start ``reads`` that a page needs further down now, in a daemon thread beside the
    page's own work (a page asked for them: no waiting for page runs); a failure is left
    for the page to meet, with its message, when it makes the read itself."""
    def run() -> None:
        for read in reads:
            try:
                read()
            except Exception:   # noqa: BLE001 - see above
                _LOG.debug("a read ahead failed", exc_info=True)

    thread = threading.Thread(target=run, daemon=True, name="crlm-read-ahead")
    with _LOCK:
        _AHEAD[:] = [t for t in _AHEAD if t.is_alive()] + [thread]
    thread.start()
    return thread


def warm_in_background(snap: Snapshot) -> threading.Thread:
    """``warm_snapshot(snap)`` in a daemon thread, started once per snapshot (later calls
    return the same thread)."""
    with _LOCK:
        thread = _THREADS.get(snap)
        if thread is None:
            thread = threading.Thread(target=warm_snapshot, args=(snap,), daemon=True,
                                      name=f"crlm-prefetch-{snap.cohort}")
            _THREADS[snap] = thread
            thread.start()
        return thread


@atexit.register
def _finish(timeout_s: float = 20.0) -> None:
    """Let the reads in progress end: at exit, and before the stores close (a read stopped
    inside DuckDB as its connection closes or the interpreter shuts down could take the
    process down with it). The background reads not yet begun are dropped: the snapshot
    is prepared again when a page next asks for it."""
    with _RUNS:
        _CLOSING[0] = True
        _RUNS.notify_all()
    try:
        with _LOCK:
            running = [t for t in [*_THREADS.values(), *_AHEAD] if t.is_alive()]
        for thread in running:
            if thread is not threading.current_thread():
                thread.join(timeout_s)
    finally:
        with _RUNS:
            _CLOSING[0] = False
        forget()


_BEFORE_CLOSE.append(_finish)


def forget() -> None:
    """Forget which snapshots were prepared (after the caches are cleared, so that the next
    call of ``warm_in_background`` prepares them again)."""
    with _LOCK:
        _THREADS.clear()


__all__ = ["DEFAULT_ENDPOINT", "DEFAULT_TASK", "ahead", "default_model", "forget", "page_run",
           "snapshot_reads", "warm_in_background", "warm_snapshot"]
