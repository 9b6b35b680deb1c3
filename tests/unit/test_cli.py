"""The command line's store and user commands: import, export, train, users, backup, restore.

Each failure prints one line starting with ``error:`` and leaves the store's tables
unchanged (compared by their checksums)."""
from __future__ import annotations

import io
import sys

import pandas as pd
import pytest

from crlm import auth
from crlm.cli import main
from crlm.store import Store, list_cohorts, load_cohort, load_models, table_checksums
from crlm.store.filters import CohortFilter
from tests.support.tcia import tcia_frame


@pytest.fixture()
def db(tmp_path, monkeypatch):
    from crlm.ingest.demo import generate_cohort_frames
    from crlm.store import save_cohort

    path = tmp_path / "cli.duckdb"
    with Store(path) as store:
        save_cohort(store, "demo", generate_cohort_frames(120, 3).patients, kind="synthetic")
    return path


def _checksums(path):
    with Store(path, create=False) as store:
        return table_checksums(store)


def _cli(*argv) -> int:
    try:
        return main(list(argv))
    except SystemExit as exc:  # argparse refusals
        return int(exc.code or 0)


def test_import_dry_run_writes_nothing_then_import_and_export(db, tmp_path, capsys):
    csv = tmp_path / "tcia-export.csv"
    tcia_frame(30).to_csv(csv, index=False)
    before = _checksums(db)
    assert _cli("--db", str(db), "import", str(csv), "--cohort", "tcia", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "Rows read" in out or "rows read" in out.lower()
    assert _checksums(db) == before

    assert _cli("--db", str(db), "import", str(csv), "--cohort", "tcia") == 0
    with Store(db, create=False) as store:
        assert "tcia" in set(list_cohorts(store)["cohort"])
        n = len(load_cohort(store, CohortFilter(cohort="tcia")))
    assert n == 30

    out_file = tmp_path / "tcia-out.parquet"
    assert _cli("--db", str(db), "export", "tcia", str(out_file)) == 0
    assert len(pd.read_parquet(out_file)) == 30


@pytest.mark.parametrize("name, content, status", [
    ("missing.csv", None, 1),
    ("empty.csv", b"", 2),
    ("notes.csv", b"\x00\x01\x02 not a table", 2),
])
def test_import_refusals_print_one_line_and_change_nothing(db, tmp_path, capsys, name, content,
                                                            status):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    before = _checksums(db)
    assert _cli("--db", str(db), "import", str(path)) == status
    captured = capsys.readouterr()
    assert "error:" in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err
    assert _checksums(db) == before


def test_train_an_imported_cohort_skips_what_it_cannot_support(db, tmp_path, capsys):
    csv = tmp_path / "tcia.csv"
    tcia_frame(120, seed=4).to_csv(csv, index=False)
    assert _cli("--db", str(db), "import", str(csv), "--cohort", "tcia") == 0
    capsys.readouterr()
    rc = _cli("--db", str(db), "-q", "train", "--cohort", "tcia", "--folds", "2", "--fast",
              "--task", "os_risk", "--task", "anti_egfr_benefit",
              "--family", "cox", "--family", "fong_score", "--family", "genomic_rf")
    out, err = capsys.readouterr()
    assert rc == 0, err
    # skipped families come as clean lines after training, not through Python's warnings
    assert "skipped" in out and "  task anti_egfr_benefit: " in out
    assert "UserWarning" not in out + err and "cli.py" not in out + err
    with Store(db, create=False) as store:
        models = load_models(store, cohort="tcia")
    assert {"os_risk.cox", "os_risk.fong_score"} <= set(models["model_id"])
    assert not any(m.startswith("anti_egfr_benefit") for m in models["model_id"])


def test_users_commands_manage_the_file_without_showing_hashes(tmp_path, monkeypatch, capsys):
    users = tmp_path / "users.toml"
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-password-1\n"))
    assert _cli("users", "--users", str(users), "add", "nina", "--role", "clinician",
                "--password-stdin") == 0
    assert auth.verify(users, "nina", "a-long-password-1").role == "clinician"
    assert _cli("users", "--users", str(users), "add", "sso@hospital.example", "--role",
                "viewer", "--oidc") == 0
    assert _cli("users", "--users", str(users), "set-role", "nina", "admin") == 0
    capsys.readouterr()
    assert _cli("users", "--users", str(users), "list") == 0
    listing = capsys.readouterr().out
    assert "nina\tadmin\tpassword" in listing and "sso@hospital.example\tviewer" in listing
    assert "argon2" not in listing
    monkeypatch.setattr(sys, "stdin", io.StringIO("another-password-2\n"))
    assert _cli("users", "--users", str(users), "passwd", "nina", "--password-stdin") == 0
    assert auth.verify(users, "nina", "another-password-2")
    assert _cli("users", "--users", str(users), "remove", "nina") == 0
    assert auth.lookup_role(users, "nina") is None


@pytest.mark.parametrize("argv, message", [
    (["add", "nina", "--role", "clinician", "--password-stdin"], "exists already"),
    (["add", "bob", "--role", "clinician", "--password-stdin"], "at least"),  # short password
    (["set-role", "nobody", "admin"], "no user"),
    (["remove", "nobody"], "no user"),
])
def test_users_refusals_change_nothing(tmp_path, monkeypatch, capsys, argv, message):
    users = tmp_path / "users.toml"
    auth.add_user(users, "nina", "clinician", "a-long-password-1")
    before = users.read_bytes()
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n" if "bob" in argv
                                                  else "a-long-password-1\n"))
    assert _cli("users", "--users", str(users), *argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0], err
    assert users.read_bytes() == before


def test_users_refuses_an_unknown_role(tmp_path, capsys):
    assert _cli("users", "--users", str(tmp_path / "u.toml"), "add", "x", "--role", "root",
                "--oidc") == 2
    assert "invalid choice" in capsys.readouterr().err


def test_backup_and_restore_give_identical_tables(db, tmp_path, capsys):
    dest = tmp_path / "backup"
    assert _cli("--db", str(db), "backup", str(dest)) == 0
    restored = tmp_path / "restored.duckdb"
    assert _cli("restore", str(dest), "--db", str(restored)) == 0
    assert _checksums(restored) == _checksums(db)
    capsys.readouterr()
    # refusals: a non-empty backup folder, an existing target, no target at all
    assert _cli("--db", str(db), "backup", str(dest)) == 1
    assert _cli("restore", str(dest), "--db", str(restored)) == 1
    assert _cli("restore", str(dest)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("error:") for line in err)


@pytest.mark.parametrize("where", ["before", "after"])
def test_db_is_accepted_before_and_after_the_sub_command(db, tmp_path, monkeypatch, capsys,
                                                         where):
    monkeypatch.setenv("CRLM_DB", str(tmp_path / "not-this-one.duckdb"))
    out_file = tmp_path / f"demo-{where}.csv"
    argv = ["export", "demo", str(out_file)]
    argv = ["--db", str(db), *argv] if where == "before" else [*argv, "--db", str(db)]
    assert _cli(*argv) == 0, capsys.readouterr().err
    assert len(pd.read_csv(out_file)) == 120
    assert not (tmp_path / "not-this-one.duckdb").exists()


def test_db_after_the_sub_command_wins_over_the_one_before(db, tmp_path, capsys):
    other = tmp_path / "missing.duckdb"
    assert _cli("--db", str(other), "export", "demo", str(tmp_path / "x.csv"),
                "--db", str(db)) == 0, capsys.readouterr().err
    assert not other.exists()


def test_restore_keeps_its_own_db_meaning_the_new_file(db, tmp_path, capsys):
    assert _cli("--db", str(db), "backup", str(tmp_path / "bk")) == 0
    new = tmp_path / "restored.duckdb"
    assert _cli("restore", str(tmp_path / "bk"), "--db", str(new)) == 0, capsys.readouterr().err
    assert _checksums(new) == _checksums(db)


def test_models_live_beside_the_store_and_no_unused_setting_claims_to_move_them(tmp_path):
    from pathlib import Path

    from crlm import config
    from crlm.models.training import default_artefact_dir

    with Store(tmp_path / "board.duckdb") as store:
        assert default_artefact_dir(store) == (tmp_path / "board_models").resolve()
    root = Path(config.__file__).resolve().parents[1]
    for path in [*(root / "crlm").rglob("*.py"), root / "docs" / "operations.md"]:
        assert "CRLM_MODELS_DIR" not in path.read_text(encoding="utf-8"), path
    assert not hasattr(config, "models_dir")
    operations = (root / "docs" / "operations.md").read_text(encoding="utf-8")
    assert "_models/" in operations  # the backup advice names the folder beside the store
