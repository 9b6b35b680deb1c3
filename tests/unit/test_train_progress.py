"""The progress bar of ``train``: one step per (task, family) unit, in training order,
silent with ``-q`` and off a terminal unless ``--progress``."""
from __future__ import annotations

import io

import pytest

from crlm import models
from crlm import store as st
from crlm.cli.training import UnitProgress, show_progress
from crlm.models.tuning_budget import RunBudget

PATIENTS = 160
SEED = 11


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory):
    from crlm.ingest.demo_images import write_demo_cohort

    path = tmp_path_factory.mktemp("progress") / "tiny.duckdb"
    store = st.Store(path)
    try:
        write_demo_cohort(store, PATIENTS, SEED, images=False)
        store.checkpoint()
    finally:
        store.close()
    return path


def test_on_unit_is_called_once_per_unit_in_order(tiny_db, tmp_path):
    calls = []
    store = st.Store(tiny_db)
    try:
        report = models.train(store, tasks=["response", "os_risk"],
                              families=["logistic", "cart", "cox"], folds=2, seed=SEED,
                              fast=True, progress=False, artefact_dir=tmp_path / "art",
                              on_unit=lambda i, units: calls.append((i, list(units))))
    finally:
        store.close()
    units = ["response.logistic", "response.cart", "os_risk.cox"]
    assert calls == [(i, units) for i in range(len(units))]
    assert sorted(report.table["model"]) == sorted(units)


def test_quiet_train_prints_nothing_even_with_progress(tiny_db, capsys):
    from crlm import cli

    rc = cli.main(["--db", str(tiny_db), "-q", "train", "--fast", "--folds", "2",
                   "--family", "logistic", "--task", "response", "--progress"])
    out = capsys.readouterr()
    assert rc == 0
    assert out.out == "" and out.err == ""


def test_the_bar_names_each_unit_and_the_budget_and_starts_the_units_on_it():
    ticks = iter(range(0, 10_000, 30))
    run = RunBudget(600, clock=lambda: float(next(ticks)))
    sink = io.StringIO()
    bar = UnitProgress(True, folds=2, run=run, file=sink)
    units = ["response.logistic_tuned", "response.fong_score", "os_risk.cox_tuned"]
    bar(0, units)
    assert run.searches_left() == 6  # 2 tuned units × (2 folds + the final fit)
    bar(1, units)
    assert run.searches_left() == 3  # the first unit's searches not run are dropped
    bar(2, units)
    bar.close()
    text = sink.getvalue()
    for name in units:
        assert name in text
    assert "budget" in text and " of 10 min" in text and "3/3" in text


def test_the_bar_is_off_with_quiet_and_off_a_terminal_unless_asked(monkeypatch):
    import sys

    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    assert not show_progress(False, None)
    assert show_progress(False, True)
    assert not show_progress(True, True) and not show_progress(False, False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert show_progress(False, None) and not show_progress(True, None)
    sink = io.StringIO()
    silent = UnitProgress(False, folds=2, file=sink)
    silent(0, ["response.logistic"])
    silent.close()
    assert sink.getvalue() == ""
