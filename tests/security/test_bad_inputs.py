"""Bad input at every door: a clear message and an unchanged store.

The corpus (``tests/security/bad_inputs``) is generated into a temporary folder.
"""
from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st_h
from streamlit.testing.v1 import AppTest

from crlm import config
from crlm.store import (
    CATEGORY_FILTERS, RANGE_FILTERS, UNKNOWN, CohortFilter, FilterError, Store, count_patients,
    table_checksums,
)
from tests.security.bad_inputs import TABLES, huge_table, make_corpus
from tests.security.conftest import APP


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("bad_inputs"), bomb_bytes=32 * 1024 * 1024)


@pytest.fixture
def store(store_path):
    with Store(store_path) as s:
        yield s


# files that hold no usable row at all: refused outright or nothing written
REFUSED = sorted(set(TABLES) - {"wrong_types.csv", "latin1_invalid.csv", "formula_cells.csv"})


@pytest.mark.parametrize("name", sorted(TABLES))
def test_importer_dry_run_changes_nothing(corpus, store, name):
    from crlm.ingest.importer import import_file

    before = table_checksums(store)
    try:
        result = import_file(store, corpus[f"table:{name}"], cohort="bad-input", dry_run=True)
        assert not result.written
    except ValueError as exc:  # TableReadError, MappingError, ImportRefused
        _one_clear_line(exc)
    assert table_checksums(store) == before


@pytest.mark.parametrize("name", REFUSED)
def test_importer_refuses_unusable_files(corpus, store, name):
    from crlm.ingest.importer import import_file

    before = table_checksums(store)
    try:
        result = import_file(store, corpus[f"table:{name}"], cohort="bad-input")
    except ValueError as exc:
        _one_clear_line(exc)
    else:
        assert not result.written
        assert result.report.file_problems, "refused without saying why"
    assert table_checksums(store) == before


def test_importer_keeps_good_rows_and_reports_bad_ones(corpus, store):
    from crlm.ingest.importer import import_file

    result = import_file(store, corpus["table:wrong_types.csv"], cohort="typed", dry_run=True)
    frame = result.report.to_frame()
    assert result.report.rows_accepted == 1
    assert {"age_years", "os_months"} & set(frame["column"])


def test_importer_refuses_a_file_over_the_size_limit(tmp_path, store):
    from crlm.ingest.importer import import_file

    big = huge_table(tmp_path / "huge.csv", 3 * 1024 * 1024)
    before = table_checksums(store)
    with pytest.raises(ValueError, match=r"(?i)too (big|large)|limit|MB|bytes") as exc:
        import_file(store, big, cohort="huge", max_bytes=1024 * 1024)
    _one_clear_line(exc.value)
    assert table_checksums(store) == before


@pytest.mark.parametrize("name", ["empty.dcm", "text.dcm", "preamble_only.dcm", "truncated.dcm",
                                  "traversal.zip", "broken.zip", "bomb.zip", "empty_folder"])
def test_dicom_reader_refuses_bad_files(corpus, name):
    from crlm.ingest.dicom import DicomError, read_series

    with pytest.raises(DicomError) as exc:
        read_series(corpus[f"dicom:{name}"])
    _one_clear_line(exc.value)
    if name == "bomb.zip":
        assert "zip bomb" in str(exc.value) or "ratio" in str(exc.value)
    if name == "traversal.zip":
        assert "traversal" in str(exc.value)


def test_traversal_zip_writes_nothing_outside(corpus, tmp_path):
    from crlm.ingest.dicom import DicomError, read_series

    with pytest.raises(DicomError):
        read_series(corpus["dicom:traversal.zip"])
    assert not (corpus["dicom:traversal.zip"].parent.parent / "evil.dcm").exists()


# -- the command line -------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["demo", "--patients", "-5"],
    ["demo", "--patients", "lots"],
    ["demo", "--patients", "99999999999"],
    ["demo", "--seed", "1e9"],
    ["train", "--folds", "0"],
    ["no-such-command"],
])
def test_cli_rejects_bad_arguments(store_path, argv, capsys):
    from crlm.cli import main

    with Store(store_path) as s:
        before = table_checksums(s)
    with pytest.raises(SystemExit) as exc:
        main(["--db", str(store_path), "-q", *argv])
    assert exc.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("python -m crlm") and "error:" in err[-1]
    with Store(store_path) as s:
        assert table_checksums(s) == before


@pytest.mark.parametrize("db_kind", ["folder", "text", "missing"])
def test_cli_refuses_a_bad_store_path(tmp_path, db_kind, capsys):
    from crlm.cli import main

    db = tmp_path / "x.duckdb"
    if db_kind == "folder":
        db.mkdir()
    elif db_kind == "text":
        db.write_text("not a database\n")
    rc = main(["--db", str(db), "-q", "train", "--folds", "2"])
    assert rc != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
    if db_kind == "text":
        assert db.read_text() == "not a database\n"
    if db_kind == "missing":
        assert not db.exists()


@pytest.mark.parametrize("name", ["text.dcm", "traversal.zip", "bomb.zip"])
def test_cli_dicom_inspect_survives_bad_files(corpus, name, capsys):
    from crlm.cli import main

    try:
        rc = main(["dicom", "inspect", str(corpus[f"dicom:{name}"])])
    except SystemExit as exc:  # pragma: no cover - argparse
        rc = exc.code
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    if rc:
        assert out.err.strip().splitlines()[-1].startswith("error:")


# -- URL query parameters into the shared filter ----------------------------
HOSTILE_PARAMS = [
    {"age_years": "1..1e309"},
    {"age_years": "nan..inf"},
    {"age_years": "90..20"},
    {"cea_ng_ml": "-5..10"},
    {"sex": "<script>alert(1)</script>"},
    {"ras_status": "mutant'); DROP TABLE patients; --"},
    {"cohort": "'; DROP TABLE patients; --"},
    {"cohort": "x" * 5000},
    {"from": "2024-13-45"},
    {"from": "2024-01-01", "to": "1990-01-01"},
    {"center": "A" * 300},
    {"not_a_column": "1", "hepatectomy": "maybe"},
    {"from": "1989-12-31"},  # before the date picker's first day: no traceback
    {"to": "2101-01-01"},  # after its last day
    {"center": "Centre Z"},  # a centre this cohort does not have: said, not silently dropped
]


@pytest.mark.parametrize("params", HOSTILE_PARAMS, ids=lambda p: ",".join(p))
def test_hostile_url_parameters_get_a_message_and_change_nothing(app_env, monkeypatch, params):
    monkeypatch.setenv("CRLM_DEMO_MODE", "1")
    with Store(app_env["db"]) as s:
        before = table_checksums(s)
    at = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    messages = [w.value for w in at.sidebar.warning] + [e.value for e in at.sidebar.error]
    assert messages, "a bad link must be reported, not silently used"
    metric = [m for m in at.sidebar.metric if m.label == "Patients matching"]
    assert metric and int(metric[0].value.replace(",", "")) == 300
    with Store(app_env["db"]) as s:
        assert table_checksums(s) == before


LINK_FILTERS = [
    {"cea_ng_ml": "0..5"},
    {"tumour_burden_score": "0..3"},
    {"fong_score": "0..1"},
    {"game_group": "0-1"},
    {"cea_ng_ml": "..20", "fong_score": "2.."},
]


@pytest.mark.parametrize("params", LINK_FILTERS, ids=lambda p: ",".join(p))
def test_every_filter_a_link_accepts_has_a_control_and_is_applied(app_env, monkeypatch, params):
    monkeypatch.setenv("CRLM_DEMO_MODE", "1")
    expected_filter = CohortFilter.from_query_params(params)
    with Store(app_env["db"]) as s:
        expected = count_patients(s, expected_filter)
    assert 0 < expected < 300, "the example must select some patients, not all"
    at = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    assert not at.sidebar.warning and not at.sidebar.error
    metric = [m for m in at.sidebar.metric if m.label == "Patients matching"]
    assert int(metric[0].value.replace(",", "")) == expected
    # the link survives the run (the URL mirrors the sidebar) ...
    for key in params:
        assert at.query_params[key] == expected_filter.to_query_params()[key]
    # ... and a control holds it: changing nothing else, the values are on screen
    shown = ({w.value for w in at.sidebar.number_input}
             | {v for w in at.sidebar.multiselect for v in w.value})
    for column, (lo, hi) in expected_filter.ranges.items():
        assert {b for b in (lo, hi) if b is not None} <= shown
    for column, values in expected_filter.categories.items():
        assert set(values) <= shown


# -- the filter-to-SQL builder, property-based ------------------------------
def _levels(column: str) -> list[str]:
    col = config.COLUMNS_BY_NAME[column]
    if col.kind == "bool":
        return ["yes", "no", UNKNOWN]
    return list(col.levels or ("A", "B", "C", "D")) + [UNKNOWN]


@st_h.composite
def valid_filters(draw):
    cats = {}
    for column in draw(st_h.lists(st_h.sampled_from(CATEGORY_FILTERS), unique=True, max_size=5)):
        cats[column] = tuple(draw(st_h.lists(st_h.sampled_from(_levels(column)), min_size=1,
                                             max_size=4, unique=True)))
    ranges = {}
    for column in draw(st_h.lists(st_h.sampled_from(RANGE_FILTERS), unique=True, max_size=3)):
        col = config.COLUMNS_BY_NAME[column]
        # whole numbers, as the sidebar's sliders give (links print bounds with 6 digits)
        a = float(draw(st_h.integers(math.ceil(col.lo), math.floor(col.hi))))
        b = float(draw(st_h.integers(math.ceil(col.lo), math.floor(col.hi))))
        lo, hi = min(a, b), max(a, b)
        ranges[column] = (draw(st_h.sampled_from([lo, None])), draw(st_h.sampled_from([hi, None])))
    return CohortFilter(cohort=draw(st_h.sampled_from([config.DEMO_COHORT, "other", "o'brien"])),
                        categories=cats, ranges=ranges)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filt=valid_filters())
def test_valid_filters_run_with_every_value_bound(synthetic_store_template, filt):
    where, params = filt.where()
    assert where.count("?") == len(params)
    for value in params:
        if isinstance(value, str) and value not in ("unknown",) and len(value) > 2:
            assert value not in where
    again = CohortFilter.from_query_params(filt.to_query_params())
    assert again == filt
    store = _shared_store(synthetic_store_template)
    n = count_patients(store, filt)
    assert 0 <= n <= 300


_STORES: dict = {}


def _shared_store(path):
    if path not in _STORES:
        _STORES[path] = Store(path, read_only=True)
    return _STORES[path]


hostile_text = st_h.text(min_size=0, max_size=40)


@settings(max_examples=150, deadline=None)
@given(params=st_h.dictionaries(
    st_h.sampled_from(list(CATEGORY_FILTERS) + list(RANGE_FILTERS) + ["cohort", "from", "to",
                                                                      "junk"]),
    hostile_text, max_size=5))
def test_any_url_parameters_give_a_filter_or_a_filter_error(params):
    try:
        filt = CohortFilter.from_query_params(params)
    except FilterError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    where, values = filt.where()
    assert where.count("?") == len(values)
    for value in values:
        if isinstance(value, float):
            assert math.isfinite(value)


def test_score_cases_validation_rejects_bad_values(store):
    from crlm.models import score_cases

    before = table_checksums(store)
    bad = pd.DataFrame({"age_years": [500], "max_diameter_cm": ["big"], "sex": ["robot"]})
    with pytest.raises(ValueError) as exc:
        score_cases(bad, store=store)
    text = str(exc.value)
    assert "age_years" in text or "max_diameter_cm" in text or "sex" in text
    assert table_checksums(store) == before


def _one_clear_line(exc: BaseException) -> None:
    text = str(exc)
    assert text and len(text) < 600, text
    assert "Traceback" not in text
