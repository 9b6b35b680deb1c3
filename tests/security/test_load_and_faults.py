"""Load and faults: concurrent readers and writers, kill -9 mid-write, a busy store, backups."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from crlm import config
from crlm.store import (
    CohortFilter, Store, StoreBusy, StoreError, count_patients, list_cohorts, load_cases,
    load_cohort, load_cohort_info, load_images, load_predictions, save_case, save_cohort,
    table_checksums,
)
from crlm.store.backup import backup, read_manifest, restore

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable

pytestmark = pytest.mark.slow


def test_twenty_threads_browse_export_save_and_import(store_path):
    from crlm.figures.export import figure_data_csv
    from crlm.ingest.demo import generate_cohort_frames

    store = Store(store_path)
    n_saves, n_imports, n_readers = 30, 3, 18
    errors: list[BaseException] = []
    stop = threading.Event()
    filters = [CohortFilter(), CohortFilter(categories={"sex": ("female",)}),
               CohortFilter(categories={"ras_status": ("mutant", "unknown")}),
               CohortFilter(ranges={"age_years": (40, 70)})]
    imported = generate_cohort_frames(120, 5).patients
    inconsistent: list[str] = []

    def reader(i: int) -> None:
        try:
            k = 0
            while not stop.is_set() or k < 3:
                filt = filters[(i + k) % len(filters)]
                frame = load_cohort(store, filt, ["patient_id", "age_years", "sex"])
                figure_data_csv(frame.head(50))
                load_predictions(store, filt)
                # one cursor, one snapshot: the cohort row and its patients agree
                cur = store.cursor()
                cur.execute("BEGIN TRANSACTION")
                try:
                    for cohort, n in cur.execute(
                            "SELECT cohort, n_patients FROM cohorts").fetchall():
                        got = cur.execute("SELECT count(*) FROM patients WHERE cohort = ?",
                                          [cohort]).fetchone()[0]
                        if got != n:
                            inconsistent.append(f"{cohort}: {got} != {n}")
                finally:
                    cur.execute("COMMIT")
                    cur.close()
                k += 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def saver() -> None:
        try:
            for i in range(n_saves):
                save_case(store, actor="clara", inputs={"i": i}, scores={"p": 0.5},
                          label=f"load test {i}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def importer() -> None:
        try:
            for i in range(n_imports):
                save_cohort(store, "imported-load", imported.sample(frac=1.0, random_state=i),
                            kind="synthetic", description=f"round {i}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    cases_before = len(load_cases(store))
    threads = [threading.Thread(target=reader, args=(i,)) for i in range(n_readers)]
    writers = [threading.Thread(target=saver), threading.Thread(target=importer)]
    for t in threads + writers:
        t.start()
    for t in writers:
        t.join(timeout=120)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads + writers), "a thread hung"
    assert not errors, errors[:3]
    assert not inconsistent, inconsistent[:3]
    cases = load_cases(store)
    assert len(cases) == cases_before + n_saves
    assert cases["case_id"].is_unique
    assert sorted(cases["label"].dropna())[-n_saves:] == sorted(f"load test {i}"
                                                                 for i in range(n_saves))
    info = load_cohort_info(store, "imported-load")
    assert info["n_patients"] == 120 == count_patients(store, CohortFilter(cohort="imported-load"))
    store.close()


def _spawn(code: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([PY, "-c", code, *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(proc: subprocess.Popen, marker: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if marker in line:
            return
        if proc.poll() is not None:
            raise AssertionError(f"child ended early: {proc.stderr.read()[-800:]}")
    raise AssertionError(f"child never printed {marker!r}")


HOLD_TRANSACTION = """
import sys, time
from crlm.store import Store, begin_cohort, append_patients
from crlm.ingest.demo import generate_cohort_frames
store = Store(sys.argv[1])
frame = generate_cohort_frames(2000, 3).patients
with store.transaction() as cur:
    begin_cohort(cur, "interrupted", kind="synthetic")
    append_patients(cur, "interrupted", frame)
    print("MID-TRANSACTION", flush=True)
    time.sleep(120)
"""

SAVE_LOOP = """
import sys
from crlm.store import Store, save_case
store = Store(sys.argv[1])
i = 0
while True:
    save_case(store, actor="loop", inputs={"i": i}, scores={}, label=f"loop {i}")
    i += 1
    if i == 20:
        print("SAVING", flush=True)
"""


def test_kill_9_mid_transaction_leaves_all_or_nothing(store_path):
    with Store(store_path) as s:
        before = table_checksums(s)
    proc = _spawn(HOLD_TRANSACTION, str(store_path))
    try:
        _wait_for(proc, "MID-TRANSACTION")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with Store(store_path) as s:  # opens (replays the WAL) and keeps nothing of it
        assert table_checksums(s) == before
        assert "interrupted" not in set(list_cohorts(s)["cohort"])
        save_case(s, actor="after", inputs={}, scores={})


def test_kill_9_in_a_save_loop_loses_no_committed_case(store_path):
    proc = _spawn(SAVE_LOOP, str(store_path))
    try:
        _wait_for(proc, "SAVING")
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with Store(store_path) as s:
        cases = load_cases(s)
        loop = cases[cases["created_by"] == "loop"]
        assert len(loop) >= 20
        numbers = sorted(int(label.split()[1]) for label in loop["label"])
        assert numbers == list(range(len(numbers)))  # a prefix: nothing lost, nothing twice
        audit = s.cursor().execute(
            "SELECT count(*) FROM audit_log WHERE actor = 'loop'").fetchone()[0]
        assert audit == len(loop)  # case and audit row landed together


DEMO_MID_WRITE = """
import sys, time
from crlm.ingest.demo_images import write_demo_cohort
from crlm.store import Store
store = Store(sys.argv[1])
def pause(n_written):  # called inside the cohort's transaction, after a part is appended
    print("MID-TRANSACTION", n_written, flush=True)
    time.sleep(120)
write_demo_cohort(store, 400, 3, on_chunk=pause)
"""


def test_kill_9_inside_the_demo_cohort_write_leaves_nothing(tmp_path):
    """Killed while the demo writer's transaction provably holds appended rows (the part
    callback runs inside it): the store reopens without the cohort, its images or rows."""
    db = tmp_path / "crlm.duckdb"
    with Store(db) as s:
        before = table_checksums(s)
    proc = _spawn(DEMO_MID_WRITE, str(db))
    try:
        _wait_for(proc, "MID-TRANSACTION 400")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with Store(db) as s:
        assert table_checksums(s) == before
        assert count_patients(s, CohortFilter()) == 0
        assert load_cohort_info(s, config.DEMO_COHORT) is None
        assert load_images(s, config.DEMO_COHORT).empty


def test_second_process_gets_store_busy_and_retry_succeeds(store_path):
    holder = _spawn("import sys, time\nfrom crlm.store import Store\n"
                    "s = Store(sys.argv[1])\nprint('HOLDING', flush=True)\n"
                    "time.sleep(float(sys.argv[2]))\ns.close()\n"
                    "print('RELEASED', flush=True)\n", str(store_path), "2.0")
    try:
        _wait_for(holder, "HOLDING")
        with pytest.raises(StoreBusy, match="store busy"):
            Store(store_path)
        with Store(store_path, retry_s=30) as s:  # waits for the holder to let go
            save_case(s, actor="retry", inputs={}, scores={})
            assert (load_cases(s)["created_by"] == "retry").sum() == 1
    finally:
        holder.wait(timeout=60)
    assert holder.returncode == 0


def test_backup_and_restore_give_identical_checksums(store_path, tmp_path):
    with Store(store_path) as s:
        save_case(s, actor="clara", inputs={"a": 1}, scores={"p": 0.2}, label="before backup")
        want = table_checksums(s)
        manifest = backup(s, tmp_path / "bk")
    assert read_manifest(tmp_path / "bk")["tables"]["cases"]["rows"] == want["cases"][0]
    assert manifest["schema_version"] >= 1
    got = restore(tmp_path / "bk", tmp_path / "restored" / "crlm.duckdb")
    assert got == want
    with Store(tmp_path / "restored" / "crlm.duckdb") as r:
        assert table_checksums(r) == want
        new_id = save_case(r, actor="clara", inputs={}, scores={})  # sequences carried over
        assert new_id > int(load_cases(r)["case_id"].iloc[1])


def test_backup_from_a_path_and_refusals(store_path, tmp_path):
    backup(store_path, tmp_path / "bk")  # a path is opened read-only
    with pytest.raises(StoreError, match="not empty"):
        backup(store_path, tmp_path / "bk")
    with pytest.raises(StoreError, match="exists already"):
        restore(tmp_path / "bk", store_path)
    with pytest.raises(StoreError, match="not a store backup"):
        restore(tmp_path, tmp_path / "new.duckdb")
    schema = tmp_path / "bk" / "schema.sql"
    schema.write_text(schema.read_text() + "\nCOPY patients TO '/tmp/leak.csv';\n")
    with pytest.raises(StoreError, match="never has"):
        restore(tmp_path / "bk", tmp_path / "new.duckdb")
    assert not (tmp_path / "new.duckdb").exists()


def test_restore_refuses_a_tampered_backup(store_path, tmp_path):
    import pandas as pd

    backup(store_path, tmp_path / "bk")
    cases = pd.read_parquet(tmp_path / "bk" / "cohorts.parquet")
    cases["description"] = "changed"
    cases.to_parquet(tmp_path / "bk" / "cohorts.parquet")
    with pytest.raises(StoreError, match="differs from the backup in: cohorts"):
        restore(tmp_path / "bk", tmp_path / "new.duckdb")
    assert not (tmp_path / "new.duckdb").exists()
