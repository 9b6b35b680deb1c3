"""Load on one running server: 20 signed-in viewers browse every analysis page and download
CSV exports while a clinician saves cases and an admin imports a cohort in a real browser.

The viewers and the clinician are clients of Streamlit's agent API (HTTP requests that run
the app exactly as a browser's reruns do: sign-in form, widgets, buttons); the admin is
Chromium. Each client does a fixed amount of work, so the test stops by itself. Afterwards
the server is stopped and its store is checked: every saved case is there once with its
audit row, the imported cohort is there whole, and no client saw an error or a count that
disagreed with the store's.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pandas as pd
import pytest

from tests.e2e.conftest import serve_app

pytestmark = pytest.mark.e2e

N_VIEWERS = 20
N_SAVES = 8
PASSWORDS = {"vera": ("viewer", "viewer-password-1"),
             "clara": ("clinician", "clinician-password-1"),
             "adam": ("admin", "admin-password-1")}
FILTERS = [{}, {"sex": ["female"]}, {"ras_status": ["mutant"]}, {"primary_side": ["right"]},
           {"tbs_zone": ["high"]}]
PAGES = ("survival", "models", "subgroups")
CASE = {"max_diameter_cm": 4.0, "n_liver_lesions": 3, "cea_ng_ml": 35.0, "kras": "wild-type",
        "nras": "wild-type", "node_positive": "yes", "biologic": "anti-EGFR",
        "primary_side": "left", "age_years": 64.0, "extrahepatic_disease": "no"}
IMPORT_ROWS = 40


class AgentClient:
    """One user's session through the server's agent API."""

    def __init__(self, base: str):
        self.base = base
        self.session_id: str | None = None

    def interact(self, **body) -> dict:
        deadline = time.monotonic() + 240
        if self.session_id:
            body["session_id"] = self.session_id
        while True:
            request = urllib.request.Request(
                f"{self.base}/_stcore/agent/interact", data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"}, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=240) as response:
                    status, snapshot = response.status, json.load(response)
            except urllib.error.HTTPError as exc:
                error = json.load(exc).get("error", {})
                if error.get("code") == "session_busy" and time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                raise AssertionError(f"the server refused {body}: {error}") from None
            self.session_id = snapshot.get("session_id", self.session_id)
            if status == 202 and time.monotonic() < deadline:  # still running: collect it
                body = {"session_id": self.session_id}
                continue
            assert status == 200, snapshot
            assert snapshot["status"] == "ready", _texts(snapshot)[-5:]
            return snapshot

    def sign_in(self, name: str, **link) -> dict:
        """Open the app (at ``link``: page, query_params) and sign in through its form."""
        self.interact(**link)
        return self.interact(widget_state={"auth_name": name,
                                           "auth_password": PASSWORDS[name][1]},
                             trigger={"key": "auth_submit"})

    def download(self, url: str) -> bytes:
        path = url.replace("../", "")
        with urllib.request.urlopen(f"{self.base}/{path}", timeout=60) as response:
            return response.read()


def _nodes(tree):
    if isinstance(tree, dict):
        if "type" in tree:
            yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)


def _texts(snapshot: dict) -> list[str]:
    out = []
    for node in _nodes(snapshot["tree"]):
        for key in ("body", "label", "value"):
            value = (node.get("props") or {}).get(key)
            if isinstance(value, str):
                out.append(value)
    return out


def _metric(snapshot: dict, label: str) -> int:
    values = [n["props"]["value"] for n in _nodes(snapshot["tree"])
              if n["type"] == "metric" and n["props"].get("label") == label]
    assert values, f"no metric {label!r} on {snapshot['page']}"
    return int(values[0].replace(",", ""))


@pytest.fixture()
def load_server(demo_store_path, tmp_path):
    from crlm import auth

    users = tmp_path / "users.toml"
    for name, (role, password) in PASSWORDS.items():
        auth.add_user(users, name, role, password)
    env = {"CRLM_DEMO_MODE": "", "CRLM_USERS": str(users)}
    with serve_app(demo_store_path, tmp_path, env=env,
                   args=("--server.enableAgentApi", "true")) as served:
        yield served


def _read(store_path):
    """The session's store opened in this process: read-only, or, when a fixture of this
    process holds it open for writing (DuckDB takes one configuration per file and
    process; the order of test files decides), through that same configuration."""
    from crlm.store import Store, StoreError

    try:
        return Store(store_path, read_only=True, create=False)
    except StoreError as exc:
        if "different configuration" not in str(exc):
            raise
        return Store(store_path, create=False)


def _expected_counts(store_path) -> dict[str, int]:
    from crlm.store import CohortFilter, count_patients

    with _read(store_path) as store:
        return {json.dumps(f, sort_keys=True): count_patients(
            store, CohortFilter.from_query_params({k: v[0] for k, v in f.items()}))
            for f in FILTERS}


def _import_in_browser(page, url: str, csv_path) -> None:
    page.goto(url)
    # the first run of the admin's session competes with twenty viewers' sign-ins
    name = page.get_by_role("textbox", name="User name")
    name.wait_for(timeout=180_000)
    name.fill("adam")
    page.get_by_role("textbox", name="Password").fill(PASSWORDS["adam"][1])
    page.get_by_role("button", name="Sign in").click()
    # a reload would start a new, signed-out session: move with the app's navigation
    admin = page.locator('[data-testid="stTopNavLink"]').filter(has_text="Admin")
    admin.wait_for(timeout=180_000)
    admin.click()
    page.get_by_text("Import a cohort").first.wait_for(timeout=180_000)
    uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="Cohort table")
    uploader.locator('input[type="file"]').set_input_files(str(csv_path))
    page.get_by_text("Validation report", exact=True).wait_for(timeout=60_000)
    page.get_by_role("button", name="Import into cohort 'load-cohort'").click()
    page.get_by_text(f"imported {IMPORT_ROWS} patients").wait_for(timeout=60_000)


def test_twenty_viewers_browse_while_cases_are_saved_and_a_cohort_is_imported(
        load_server, demo_store_path, page, tmp_path):
    from crlm.store import CohortFilter, Store, count_patients, load_audit_log, load_cases

    expected = _expected_counts(demo_store_path)
    with _read(demo_store_path) as store:
        cases_before = len(load_cases(store))
    errors: list[str] = []
    downloads: list[int] = []
    saved: list[str] = []

    def viewer(i: int) -> None:
        """Opens a shared link (a filter), signs in, checks the counts, downloads the
        Table 1 CSV and moves on to an analysis page."""
        try:
            filt = FILTERS[i % len(FILTERS)]
            want = expected[json.dumps(filt, sort_keys=True)]
            client = AgentClient(load_server.url)
            snap = client.sign_in("vera", page="", query_params=filt)
            assert _metric(snap, "Patients matching") == _metric(snap, "Patients") == want
            csv_urls = [n["props"]["url"] for n in _nodes(snap["tree"])
                        if n["type"] == "download_button"
                        and str((n.get("props") or {}).get("url", "")).endswith(".csv")]
            data = client.download(csv_urls[0])
            assert data.startswith(b"variable,level,Overall"), data[:80]
            downloads.append(len(data))
            name = PAGES[i % len(PAGES)]  # then on to an analysis page
            snap = client.interact(page=name, query_params=filt)
            assert snap["page"]["url_path"] == name
            assert _metric(snap, "Patients matching") == want, name
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(f"viewer {i}: {exc!r}")

    def clinician() -> None:
        try:
            client = AgentClient(load_server.url)
            client.sign_in("clara")
            client.interact(page="score")
            client.interact(widget_state={f"score_in_{k}": v for k, v in CASE.items()})
            client.interact(trigger={"key": "score_run"})
            for k in range(N_SAVES):
                client.interact(widget_state={"score_label": f"load test {k}"})
                snap = client.interact(trigger={"key": "score_save"})
                assert any(t.startswith("Saved as case") for t in _texts(snap)), _texts(snap)
                saved.append(f"load test {k}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(f"clinician: {exc!r}")

    rows = pd.DataFrame({
        "patient_id": [f"L{i:03d}" for i in range(IMPORT_ROWS)],
        "age_years": [40 + i % 40 for i in range(IMPORT_ROWS)],
        "sex": ["female" if i % 2 else "male" for i in range(IMPORT_ROWS)],
        "os_months": [6.0 + i for i in range(IMPORT_ROWS)],
        "os_event": [i % 3 == 0 for i in range(IMPORT_ROWS)],
    })
    csv_path = tmp_path / "load-cohort.csv"
    rows.to_csv(csv_path, index=False)

    threads = [threading.Thread(target=viewer, args=(i,)) for i in range(N_VIEWERS)]
    threads.append(threading.Thread(target=clinician))
    for t in threads:
        t.start()
    _import_in_browser(page, load_server.url, csv_path)
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "a client did not finish in 10 minutes"
    assert not errors, errors
    assert len(downloads) == N_VIEWERS and len(saved) == N_SAVES

    load_server.stop()
    log = load_server.log.read_text()
    assert "Traceback" not in log, log[-3000:]
    with Store(load_server.store, read_only=True, create=False) as store:
        cases = load_cases(store)
        audit = load_audit_log(store, limit=10_000)
        imported = count_patients(store, CohortFilter(cohort="load-cohort"))
    labels = [lab for lab in cases["label"] if str(lab).startswith("load test")]
    assert sorted(labels) == sorted(saved)  # each save once: none lost, none doubled
    assert len(cases) == cases_before + N_SAVES
    saves = audit[audit["action"] == "save_case"]
    assert {f"case:{c}" for c in cases["case_id"]} <= set(saves["object"].astype(str))
    assert imported == IMPORT_ROWS
