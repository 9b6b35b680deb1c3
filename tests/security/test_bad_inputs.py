"""Bad input at every door: a clear message and an unchanged store.

The corpus (``tests/security/bad_inputs``) is generated into a temporary folder.
"""
from __future__ import annotations

import ast
import io
import json
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
from tests.security.bad_inputs import (
    DATE_CELLS, GOOD_HEADER, LONG_PATIENT_ID, TABLES, huge_table, make_corpus,
)
from tests.security.conftest import APP, ROOT


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("bad_inputs"), bomb_bytes=32 * 1024 * 1024)


@pytest.fixture
def store(store_path):
    with Store(store_path) as s:
        yield s


# files that hold at least one usable row (a hospital export's edge cases among them)
READABLE = {"wrong_types.csv", "latin1_invalid.csv", "formula_cells.csv", "utf16.csv",
            "excel_unicode_text.txt", "utf16_no_bom.tsv", "long_patient_id.csv",
            "decimal_comma.csv", "decimal_comma_mixed.csv", "decimal_comma_quoted.csv",
            "dates.csv", "formula_no_result.xlsx"}
# files that hold no usable row at all: refused outright or nothing written
REFUSED = sorted(set(TABLES) - READABLE)


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


@pytest.mark.parametrize("fmt", ["csv", "parquet", "xlsx"])
def test_cli_export_refuses_to_overwrite_a_file(store_path, tmp_path, capsys, fmt):
    from crlm.cli import main

    out = tmp_path / "exports"
    out.mkdir()
    target = out / f"board-notes.{fmt}"
    target.write_bytes(b"somebody's file\n")
    rc = main(["--db", str(store_path), "-q", "export", config.DEMO_COHORT, str(target)])
    assert rc != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "exists" in err[0]
    assert target.read_bytes() == b"somebody's file\n"
    assert sorted(p.name for p in out.iterdir()) == [target.name]  # no partial file
    # asked for explicitly, it replaces the file
    assert main(["--db", str(store_path), "-q", "export", config.DEMO_COHORT, str(target),
                 "--overwrite"]) == 0
    assert target.read_bytes() != b"somebody's file\n"
    assert sorted(p.name for p in out.iterdir()) == [target.name]
    assert target.stat().st_mode & 0o777 == 0o600  # patient data: the owner only


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
    {"fong": "0..1"},  # not a filter (a typo of fong_score): said, not silently dropped
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



# -- hardening: exports, reports, uploads, metadata, hospital exports (issue 18) ------------
def _downloads(monkeypatch) -> list:
    """Records the media file managers of AppTest runs, to read download buttons' bytes."""
    import streamlit.testing.v1.app_test as app_test_module
    from streamlit.runtime.media_file_manager import MediaFileManager

    made: list = []

    class Recording(MediaFileManager):
        def __init__(self, storage):
            super().__init__(storage)
            self.recorded_storage = storage
            made.append(self)

    monkeypatch.setattr(app_test_module, "MediaFileManager", Recording)
    return made


def _download_bytes(made: list, button) -> bytes:
    proto = button.proto
    if proto.deferred_file_id:
        return made[-1]._deferred_callables[proto.deferred_file_id]["callable"]()
    return made[-1].recorded_storage.get_file(proto.url.rsplit("/", 1)[-1]).content


def test_score_page_csv_downloads_neutralise_formula_cells(app_env, monkeypatch):
    """The problems of a table upload and the saved cases' labels come back quoted."""
    monkeypatch.setenv("CRLM_DEMO_MODE", "1")
    made = _downloads(monkeypatch)
    with Store(app_env["db"]) as s:
        from crlm.store import save_case

        for label in ("=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"):
            save_case(s, actor="clara", inputs={"age_years": 61}, scores={}, label=label,
                      cohort=config.DEMO_COHORT)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.switch_page("views/score.py").run()
    at.radio(key="score_mode").set_value("Table of cases (CSV / Excel)").run()
    upload = "age_years,sex,cea_ng_ml\n=1+1,male,12\n55,@SUM(1),3\n61,+cmd|x,-1\n"
    at.file_uploader(key="score_batch_upload").set_value(("cases.csv", upload.encode(),
                                                          "text/csv")).run()
    assert not at.exception, at.exception
    buttons = {b.label: b for b in at.get("download_button")}
    for label in ("Download the problems (CSV)", "Download saved cases (CSV)",
                  "Download the template (CSV)"):
        frame = pd.read_csv(io.BytesIO(_download_bytes(made, buttons[label])), dtype=str,
                            keep_default_na=False)
        cells = [str(c) for c in frame.columns] + [v for col in frame for v in frame[col]]
        assert not [c for c in cells if c.startswith(("=", "+", "-", "@"))], (label, cells)
        if label != "Download the template (CSV)":
            assert any(c.startswith("'=1+1") for c in cells), label


def _download_calls() -> list[tuple[str, ast.Call]]:
    found = []
    for path in sorted([ROOT / "app.py", *(ROOT / "views").glob("*.py"),
                        *(ROOT / "crlm").rglob("*.py")]):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr == "download_button":
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return found


NEUTRALISED_PRODUCERS = {"csv_bytes", "figure_data_csv", "batch_template"}
NOT_A_SPREADSHEET = ("application/pdf", "image/png", "image/svg+xml", "text/plain")
FIGURE_PRODUCERS = {"export_figure"}  # PNG, SVG or PDF only (it refuses any other format)
ZIP_PRODUCERS = {"zip_bytes"}  # R exports: data.csv by csv_bytes (test below)


@pytest.mark.parametrize("where,call", _download_calls(), ids=lambda v: v if isinstance(v, str)
                         else "")
def test_every_download_button_writes_through_the_one_neutraliser(where, call):
    """Each download button either gives a format no spreadsheet runs, or builds its
    bytes with a producer that calls ``crlm.privacy.csv_bytes``."""
    kwargs = {k.arg: k.value for k in call.keywords}
    data = kwargs.get("data", call.args[1] if len(call.args) > 1 else None)
    mime = kwargs.get("mime")
    mime_text = ast.literal_eval(mime) if isinstance(mime, ast.Constant) else None
    called = {n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
              for n in ast.walk(data) if isinstance(n, ast.Call)} if data is not None else set()
    if isinstance(data, ast.Name):  # a producer passed by name: Streamlit calls it on click
        called.add(data.id)
    producers = NEUTRALISED_PRODUCERS | FIGURE_PRODUCERS | ZIP_PRODUCERS
    assert mime_text in NOT_A_SPREADSHEET or called & producers, (
        f"{where}: download of {mime_text!r} built by {sorted(called)}, not by "
        f"{sorted(NEUTRALISED_PRODUCERS)}")


def test_tables_are_written_only_by_the_neutralising_writers():
    """In the app (pages, widgets, cases, figures) and the cohort export, ``to_csv`` /
    ``to_excel`` appear only in the two writers that neutralise first, and the tables'
    own client-side CSV export (which does not) is switched off."""
    import tomllib

    allowed = {"crlm/privacy.py", "crlm/ingest/export.py"}
    writers = set()
    app_files = [ROOT / "app.py", *(ROOT / "views").glob("*.py"), *(ROOT / "crlm" / "ui").glob(
        "*.py"), *(ROOT / "crlm" / "figures").glob("*.py"), *(ROOT / "crlm" / "ingest").glob(
        "*.py"), *(ROOT / "crlm" / "cases").glob("*.py"), ROOT / "crlm" / "privacy.py"]
    for path in app_files:
        tree = ast.parse(path.read_text())
        if any(isinstance(n, ast.Attribute) and n.attr in ("to_csv", "to_excel")
               for n in ast.walk(tree)):
            writers.add(str(path.relative_to(ROOT)))
    assert writers <= allowed, writers - allowed
    settings_ = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert settings_["client"]["disableDataExport"] is True


@pytest.mark.parametrize("producer", ["csv_bytes", "figure_data_csv"])
def test_the_csv_producers_quote_formula_cells_and_keep_numbers(producer):
    from crlm import cases, figures

    make = cases.csv_bytes if producer == "csv_bytes" else figures.figure_data_csv
    frame = pd.DataFrame({"=label": ["=1+1", "+cmd|' /C calc'!A0", "@SUM(1)", "\tx", "ok"],
                          "value": [-1.5, 2.0, -3.0, 0.0, 1.0]})
    out = pd.read_csv(io.BytesIO(make(frame)), keep_default_na=False)
    assert list(out.columns) == ["'=label", "value"]
    assert list(out["'=label"]) == ["'=1+1", "'+cmd|' /C calc'!A0", "'@SUM(1)", "'\tx", "ok"]
    assert list(out["value"]) == [-1.5, 2.0, -3.0, 0.0, 1.0]


def test_the_r_export_zip_writes_its_data_through_the_neutraliser():
    import zipfile

    from crlm.reports.r_export import AnalysisExport

    export = AnalysisExport(name="km", title="t", script="", quantities=(), data=pd.DataFrame(
        {"pid": ["P1", "P2"], "group": ["=HYPERLINK(\"x\")", "@SUM(1)"], "time": [-1.0, 2.0]}))
    with zipfile.ZipFile(io.BytesIO(export.zip_bytes())) as zf:
        data = pd.read_csv(zf.open("km/data.csv"), keep_default_na=False)
    assert list(data["group"]) == ["'=HYPERLINK(\"x\")", "'@SUM(1)"]
    assert list(data["time"]) == [-1.0, 2.0]


def test_a_source_patient_id_never_reaches_a_report(corpus, store_path, capsys):
    """Report text, table and dict, the CLI's output and ``imports.report``: row numbers only."""
    from crlm.cli import main
    from crlm.ingest.importer import import_file

    path = corpus["table:long_patient_id.csv"]
    pieces = {LONG_PATIENT_ID[i:i + 8] for i in range(len(LONG_PATIENT_ID) - 8)}
    with Store(store_path) as s:
        result = import_file(s, path, cohort="long-id")
        stored = s.cursor().execute("SELECT report FROM imports WHERE cohort = 'long-id'"
                                    ).fetchone()[0]
    assert result.written and result.report.rejected_rows == (1,)
    frame = result.report.to_frame()
    row = frame[frame["column"] == "patient_id"]
    assert list(row["row"]) == [1] and list(row["value"]) == [""]
    assert row["problem"].iloc[0].startswith("patient id too long")
    assert main(["--db", str(store_path), "import", str(path), "--cohort", "long-id-2",
                 "--dry-run"]) == 0
    printed = capsys.readouterr()
    texts = {"to_text": result.report.to_text(), "to_frame": frame.to_csv(),
             "to_dict": json.dumps(result.report.to_dict(), default=str),
             "imports.report": stored, "cli": printed.out + printed.err}
    for where, text in texts.items():
        assert "row(s): 1" in text or where in ("to_frame", "to_dict")
        leaked = [p for p in pieces if p in text]
        assert not leaked, f"{where} holds part of the source patient id"


def _admin_page() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.text_input(key="auth_name").input("adam")
    at.text_input(key="auth_password").input("admin-password-1")
    [b for b in at.button if b.label == "Sign in"][0].click()
    at.run()
    return at.switch_page("views/admin.py").run()


def test_admin_problems_csv_neutralises_formula_cells(app_env, monkeypatch):
    made = _downloads(monkeypatch)
    at = _admin_page()
    upload = (GOOD_HEADER + "P1,A,=1+1,female,10,1\nP2,A,50,@SUM(1),10,1\n"
              "P3,A,61,male,+cmd|x,0\nP4,A,55,female,12,1\n")
    at.file_uploader(key="admin_upload").set_value(("centre.csv", upload.encode(), "text/csv"))
    at.run()
    assert not at.exception, at.exception
    button = [b for b in at.get("download_button") if b.label == "Download the problems (CSV)"]
    frame = pd.read_csv(io.BytesIO(_download_bytes(made, button[0])), dtype=str,
                        keep_default_na=False)
    assert {"'=1+1", "'@SUM(1)", "'+cmd|x"} <= set(frame["value"])
    assert not [v for col in frame for v in frame[col] if v.startswith(("=", "+", "-", "@"))]


def test_the_admin_page_never_shows_a_source_patient_id(corpus, app_env):
    """Upload, report, import and the stored report under "Imports of …": row numbers only."""
    at = _admin_page()
    data = corpus["table:long_patient_id.csv"].read_bytes()
    at.file_uploader(key="admin_upload").set_value(("long_patient_id.csv", data, "text/csv"))
    at.run()
    at.button(key="admin_import").click().run()
    assert not at.exception, at.exception
    assert any("imported 1 patients" in m.value for m in at.success)
    shown = [d.value.to_csv() for d in at.dataframe] + [c.value for c in at.code]
    shown += [m.value for kind in ("markdown", "caption", "warning", "error", "success", "info")
              for m in at.get(kind)]
    report = [d.value for d in at.dataframe if "problem" in d.value.columns][0]
    assert "patient id too long" in " ".join(report["problem"])
    assert any("patient id too long" in c.value for c in at.code)  # the stored report
    pieces = {LONG_PATIENT_ID[i:i + 8] for i in range(len(LONG_PATIENT_ID) - 8)}
    assert not [p for p in pieces for text in shown if p in text]


def test_zip_members_without_a_dicom_preamble_are_not_read_whole(corpus):
    """12 non-DICOM members of 2 MiB (a 36-fold ratio, under the limit): only each one's
    first 132 bytes are read; the Python heap grows by far less than the 24 MiB."""
    import tracemalloc

    from crlm.ingest.dicom import DicomError, read_series

    tracemalloc.start()
    try:
        with pytest.raises(DicomError) as exc:
            read_series(corpus["dicom:junk_members.zip"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "no CT image series" in str(exc.value) and "\n" not in str(exc.value)
    assert "junk00.dat: not a DICOM file" in str(exc.value)
    assert peak < 4 * 1024 * 1024, f"{peak / 1e6:.1f} MB held while reading the upload"


def test_dicom_bytes_held_in_memory_are_capped(corpus):
    from crlm.ingest.dicom import DicomError, ZipLimits, read_series

    with pytest.raises(DicomError, match="read in memory") as exc:  # 4 x 2 MiB after DICM
        read_series(corpus["dicom:preamble_members.zip"],
                    limits=ZipLimits(max_memory_bytes=4_000_000))
    _one_clear_line(exc.value)


def test_dicom_upload_limits_are_the_documented_ones(corpus):
    import re

    from crlm.ingest.dicom import DicomError, ZipLimits, read_series

    docs = (ROOT / "docs" / "security.md").read_text()

    def documented(label: str) -> str:
        match = re.search(re.escape(label) + r"[^|\n]*\|\s*([^|\n]+?)\s*\|", docs)
        assert match, label
        return match.group(1)

    limits = ZipLimits()
    assert int(documented("files per DICOM upload").replace(",", "")) == limits.max_members
    assert documented("DICOM files held in memory") == f"{limits.max_memory_bytes / 1e6:.0f} MB"
    assert documented("zip expansion ratio") == f"{limits.max_ratio:.0f}"
    with pytest.raises(DicomError, match=f"more than the limit of {limits.max_members}"):
        read_series(corpus["dicom:2001_members.zip"])


def test_saved_image_metadata_is_allow_listed_and_screened(store_path):
    """Device fields that hold a name or a number are screened before a case is saved;
    fields outside the allow-list are not kept."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    from crlm import cases
    from crlm.store import load_case, save_case

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.Manufacturer = "Dr Holloway, tel 023 9287 6543"
    ds.ManufacturerModelName = "pt Margaret Thatchwood MRN 4455667"
    buf = io.BytesIO()
    ds.save_as(buf)
    ct = cases.read_ct_upload(buf.getvalue(), "slice.dcm")
    meta = ct.image_metadata({"source": "drawn", "slice_index": 0}, {"max_diameter_cm": 2.0})
    raw = dict(ct.meta, institution="JFK IMAGING CENTER", note="born 14/02/1957")
    case = cases.case_from_form({})
    for metadata in (meta, raw):
        record = cases.case_record(case, pd.DataFrame(), cohort=config.DEMO_COHORT,
                                   image_metadata=metadata)
        with Store(store_path) as s:
            case_id = save_case(s, actor="clara", inputs=record["inputs"], scores={},
                                image_metadata=record["image_metadata"])
            saved = load_case(s, case_id)["image_metadata"]
        text = json.dumps(saved)
        assert set(saved) <= set(cases.IMAGE_METADATA_KEYS)
        for secret in ("Holloway", "9287", "Thatchwood", "4455667", "JFK", "1957",
                       "origin_mm", "image_positions_mm"):
            assert secret not in text, secret
        assert saved["n_slices"] == 1 and saved["series_uid"] == ct.meta["series_uid"]
    assert saved["manufacturer"].startswith("Dr [name]")


def _report_of(corpus, name):
    from crlm.ingest.importer import prepare_table, read_table
    from crlm.ingest.mapping import identity_mapping

    return prepare_table(read_table(corpus[f"table:{name}"]), identity_mapping())


@pytest.mark.parametrize("name", ["utf16.csv", "excel_unicode_text.txt", "utf16_no_bom.tsv"])
def test_utf16_text_is_read(corpus, name):
    prepared = _report_of(corpus, name)
    assert prepared.report.ok and prepared.report.rows_accepted == 3
    assert list(prepared.patients["age_years"]) == [40, 41, 42]
    assert not [w for w in prepared.report.warnings if "Latin-1" in w]


def test_semicolon_files_with_decimal_commas_are_read_and_said_so(corpus):
    prepared = _report_of(corpus, "decimal_comma.csv")
    assert prepared.report.rows_accepted == 2
    assert list(prepared.patients["max_diameter_cm"]) == [3.5, 1.2]
    assert list(prepared.patients["cea_ng_ml"]) == [12.25, 4.0]
    assert list(prepared.patients["os_months"]) == [10.5, 20.75]
    assert any("decimal commas read as decimal points" in w for w in prepared.report.warnings)


@pytest.mark.parametrize("name", ["decimal_comma_mixed.csv", "decimal_comma_quoted.csv"])
def test_a_decimal_comma_that_cannot_be_read_is_named(corpus, name):
    prepared = _report_of(corpus, name)
    problems = prepared.report.problems
    assert prepared.report.rejected_rows == (1,)
    hit = problems[(problems["row"] == 1) & (problems["column"] == "cea_ng_ml")]
    assert "decimal comma" in hit["problem"].iloc[0] and hit["value"].iloc[0] == "12,5"
    if name == "decimal_comma_mixed.csv":
        assert any("mixing decimal commas and decimal points" in w
                   for w in prepared.report.warnings)


def test_dates_have_one_set_of_forms_and_a_plausibility_window(corpus):
    prepared = _report_of(corpus, "dates.csv")
    problems = prepared.report.problems
    assert prepared.report.rejected_rows == tuple(r for r, _, why in DATE_CELLS if why)
    for row, cell, why in DATE_CELLS:
        hit = problems[problems["row"] == row]
        if why is None:
            assert hit.empty
            continue
        assert list(hit["column"]) == ["diagnosis_date"] and list(hit["value"]) == [cell]
        assert why in hit["problem"].iloc[0], (cell, hit["problem"].iloc[0])
    assert [str(d) for d in prepared.patients["diagnosis_date"]] == ["2021-03-04"]


@pytest.mark.parametrize("value,why", [("2999-12-31", "after the plausible window"),
                                       ("1900-01-01", "before the plausible window"),
                                       ("2021/03/04", "written with '/'")])
def test_a_mapping_default_date_follows_the_same_rule(value, why):
    from crlm.ingest.mapping import MappingError, parse_mapping

    text = f"name: dated\ndefaults:\n  diagnosis_date: '{value}'\n"
    with pytest.raises(MappingError, match=why):
        parse_mapping(text)
    assert str(parse_mapping(text.replace(value, "2021-03-04")).defaults["diagnosis_date"]) == \
        "2021-03-04"


def test_excel_formulas_without_a_saved_result_are_named_per_cell(corpus):
    prepared = _report_of(corpus, "formula_no_result.xlsx")
    problems = prepared.report.problems
    formula = problems[problems["problem"].str.startswith("formula without a saved result")]
    assert sorted(zip(formula["row"], formula["column"])) == [(1, "cea_ng_ml"), (2, "age_years")]
    assert prepared.report.rejected_rows == (1, 2) and prepared.report.rows_accepted == 1
    assert any("2 formula cell(s) have no saved result" in w for w in prepared.report.warnings)
