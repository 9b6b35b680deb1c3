"""The Admin page's Federated runs section under Streamlit's AppTest: a run across three
site stores (in-process transport), seen from site A's store."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from crlm.auth import User

pytestmark = pytest.mark.slow
APP = Path(__file__).resolve().parents[2] / "app.py"


@pytest.fixture(scope="module")
def site_store(tmp_path_factory):
    from crlm.cli import main
    from crlm.federated.coordinator import LocalTransport, run_consortium
    from crlm.federated.demo import split_by_centre
    from crlm.federated.protocol import RunSpec
    from crlm.store import Store

    root = tmp_path_factory.mktemp("fed_admin")
    pooled = root / "pooled.duckdb"
    assert main(["--db", str(pooled), "-q", "demo", "--patients", "450", "--no-train",
                 "--no-imaging"]) == 0
    with Store(pooled) as s:
        paths = split_by_centre(s, "demo", root / "sites")
    sites = {name.split()[-1]: (str(p), "demo") for name, p in paths.items() if name[-1] in "ABC"}
    spec = RunSpec(run_id="admin-run-1", task="response", family="logistic", folds=3)
    result = run_consortium(LocalTransport(sites), spec, log=lambda *_: None)
    return Path(sites["A"][0]), result


@pytest.fixture()
def admin_env(site_store, tmp_path, monkeypatch):
    from crlm import auth

    users = tmp_path / "users.toml"
    auth.add_user(users, "adam", "admin", "admin-password-1")
    monkeypatch.setenv("CRLM_DB", str(site_store[0]))
    monkeypatch.setenv("CRLM_USERS", str(users))
    monkeypatch.delenv("CRLM_DEMO_MODE", raising=False)
    yield site_store
    from crlm.ui import loaders

    loaders.release_stores()


def test_admin_lists_the_run_its_sites_and_its_rounds(admin_env):
    _, result = admin_env
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["auth_user"] = User("adam", "admin", signed_in_at=time.time())
    at.run()
    at.switch_page("views/admin.py").run()
    assert not at.exception, at.exception
    assert any(h.value == "Federated runs" for h in at.subheader)
    runs = next(d.value for d in at.dataframe if "newton_rounds" in d.value.columns)
    row = runs[runs["run_id"] == "admin-run-1"].iloc[0]
    assert row["sites"].split(", ") == list(result.sites)
    assert row["newton_rounds"] == sum(r.kind == "newton" for r in result.rounds)
    assert row["out_of_fold"].startswith("AUC ")
    assert at.selectbox(key="admin_fed_run").value == "admin-run-1"
    rounds = next(d.value for d in at.dataframe if "bytes_by_site" in d.value.columns)
    assert list(rounds["kind"][:2]) == ["describe", "newton"]
    assert len(rounds) == len(result.rounds) and rounds.iloc[-1]["kind"] == "register"
    first = result.rounds[1]
    assert rounds.iloc[1]["bytes_sent"] == sum(first.bytes_by_site.values())
    assert all(f"{site}: " in rounds.iloc[1]["bytes_by_site"] for site in result.sites)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rounds"] == str(len(result.rounds))
