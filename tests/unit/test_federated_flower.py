"""Federated runs over Flower on loopback: a SuperLink and one ``crlm federated join``
per site (SuperNode, resident executor, worker), each in its own process, insecure
on 127.0.0.1 only, the messages signed with a consortium secret.

Evidence of issue #17: three of the demo's centres as three site stores; federated
logistic and Cox agree with the pooled models on the same rows within 0.02; the
federated Kaplan-Meier curve equals the pooled one on the grid; a site killed mid-run
is left out and the others finish; no store holds half a model.

These need ``.venv-federated`` (scripts/setup_federated.sh): they skip without it on a
workstation and fail under CI."""
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from crlm import stats
from crlm import store as st
from crlm.federated.loopback import Loopback
from crlm.federated.protocol import RunSpec
from crlm.models import train
from crlm.stats import federated as fs

from tests.support.demo_split import copy_demo_split
from tests.support.flower import need_flower

pytestmark = pytest.mark.slow
SITES = ("A", "B", "C")


def _secret(root: Path) -> Path:
    path = root / "consortium.secret"
    path.write_bytes(os.urandom(32).hex().encode())
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def consortium(demo_split, tmp_path_factory):
    need_flower()
    root = tmp_path_factory.mktemp("flower")
    pooled, sites = copy_demo_split(demo_split, root)
    return root, pooled, {k: sites[k] for k in SITES}


def _pooled_value(pooled, task, family, metric) -> float:
    # the pooled demo holds centre D out as its external centre: its development rows are
    # those of centres A, B and C, the three sites
    with st.Store(pooled) as s:
        report = train(s, cohort="demo", tasks=[task], families=[family], folds=3, progress=False)
    col = "AUC [95% CI]" if metric == "auc" else "C-index"
    return float(str(report.table[col].iloc[0]).split(" ")[0])


def _oof(sites, model_id):
    import pandas as pd

    frames = []
    for path, cohort in sites.values():
        with st.Store(path, read_only=True) as s:
            p = st.load_predictions(s, st.CohortFilter(cohort=cohort), model_id=model_id)
        frames.append(p[p["split"] == "out-of-fold"])
    return pd.concat(frames)


def test_loopback_runs_agree_with_the_pooled_models(consortium):
    root, pooled, sites = consortium
    specs = [RunSpec(run_id="loop-logistic", task="response", family="logistic", folds=3,
                     tolerance=1e-4),
             RunSpec(run_id="loop-cox", task="os_risk", family="cox", folds=3, tolerance=1e-4)]
    with Loopback(sites, root / "run", secret_file=_secret(root)) as c:
        summaries = [c.run(spec) for spec in specs]
    for spec, summary in zip(specs, summaries):
        assert summary["ok"], summary.get("error")
        assert sorted(summary["sites"]) == list(SITES) and not summary["dropped"]
        assert set(summary["registered"]) == set(SITES)
    with st.Store(pooled, read_only=True) as s:
        cohort = st.load_cohort(s, st.CohortFilter(cohort="demo")).set_index("patient_id")
    # logistic: exact AUC of the federated out-of-fold predictions against the pooled model
    oof = _oof(sites, "response.federated_logistic")
    rows = cohort.loc[oof["patient_id"]]
    fed_auc = stats.roc(rows["responder"].astype(float), oof["score"].to_numpy()).auc
    assert abs(fed_auc - _pooled_value(pooled, "response", "logistic", "auc")) < 0.02
    # Cox: Harrell's C of the federated out-of-fold risk scores against the pooled Cox model
    oof = _oof(sites, "os_risk.federated_cox")
    rows = cohort.loc[oof["patient_id"]]
    t, e = rows["os_months"].to_numpy(float), rows["os_event"].to_numpy(float)
    fed_c = stats.concordance_index(t, e, oof["score"].to_numpy()).concordance
    assert abs(fed_c - _pooled_value(pooled, "os_risk", "cox", "c_index")) < 0.02
    # Kaplan-Meier on the grid from the sites' counts equals the pooled one
    m = summaries[1]["metrics"]["out_of_fold"]
    grid = np.asarray(m["grid_months"])
    pooled_km = stats.kaplan_meier(fs.to_grid(t, grid), e).survival_at(grid)
    np.testing.assert_allclose(m["km_all"]["survival"], pooled_km.survival, atol=1e-12)
    # what the sites sent is in the summary, per round; no patient id in it
    rounds = summaries[0]["rounds"]
    assert rounds[0]["kind"] == "describe" and any(r["kind"] == "newton" for r in rounds)
    assert all(set(r["bytes_by_site"]) == set(SITES) for r in rounds)
    text = json.dumps(summaries)
    assert not any(pid in text for pid in list(cohort.index.astype(str))[:300])


def _models(path, run_id):
    with st.Store(path, read_only=True) as s:  # opens: nothing half-written
        models = st.load_models(s, current_only=False)
        preds = st.load_predictions(s, st.CohortFilter(cohort="demo"))
    mine = models[models["metrics"].map(lambda m: m.get("federated", {}).get("run_id")) == run_id]
    return mine, preds[preds["model_id"].isin(mine["model_id"])]


def test_a_site_killed_mid_run_is_left_out_and_no_store_holds_half_a_model(tmp_path, demo_split):
    need_flower()
    _, sites = copy_demo_split(demo_split, tmp_path, pooled=False)
    sites = {k: sites[k] for k in SITES}
    spec = RunSpec(run_id="loop-dropout", task="response", family="logistic", folds=3,
                   tolerance=1e-4, on_dropout="continue")
    with Loopback(sites, tmp_path / "run") as c:
        log = tmp_path / "run" / "site-C.log"
        import threading

        def kill_after_second_answer():
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                if log.exists() and "answered message 2 " in log.read_text():
                    c.kill("C")
                    return
                time.sleep(0.1)
        killer = threading.Thread(target=kill_after_second_answer, daemon=True)
        killer.start()
        summary = c.run(spec, reply_timeout_s=30)
        killer.join(5)
    assert summary["ok"], summary.get("error")
    assert summary["dropped"] == ["C"] and sorted(summary["sites"]) == ["A", "B"]
    for name in ("A", "B"):
        models, preds = _models(sites[name][0], spec.run_id)
        assert len(models) == 1 and models.iloc[0]["kind"] == "federated"
        assert Path(models.iloc[0]["artefact_path"]).exists()
        assert len(preds) > 0 and preds["score"].notna().all()
        assert models.iloc[0]["metrics"]["federated"]["dropped"] == ["C"]
    models, preds = _models(sites["C"][0], spec.run_id)
    assert models.empty and preds.empty


def _certificates(folder: Path) -> Path:
    """A consortium CA and a server certificate for 127.0.0.1, made with the OpenSSL
    commands of docs/operations.md (section 7)."""
    import shutil

    if shutil.which("openssl") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("openssl is missing in CI")
        pytest.skip("openssl is missing")
    folder.mkdir()
    for cmd in (
        "req -x509 -newkey rsa:2048 -sha256 -days 2 -nodes -keyout ca.key -out ca.crt "
        "-subj /CN=test-consortium-CA",
        "req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost",
        "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -sha256 "
        "-extfile san.ext -out server.pem",
    ):
        (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        subprocess.run(["openssl", *cmd.split()], cwd=folder, check=True, capture_output=True)
    (folder / "server.key").chmod(0o600)
    return folder


def test_tls_and_the_consortium_secret(tmp_path, demo_split):
    need_flower()
    certs = _certificates(tmp_path / "certs")
    _, sites = copy_demo_split(demo_split, tmp_path, pooled=False)
    sites = {k: sites[k] for k in ("A", "B")}
    secret = _secret(tmp_path)
    spec = RunSpec(run_id="loop-tls", task="response", family="logistic", folds=3,
                   tolerance=1e-3, max_rounds=4)
    other = tmp_path / "other.secret"
    other.write_bytes(os.urandom(32).hex().encode())
    other.chmod(0o600)
    with Loopback(sites, tmp_path / "run", secret_file=secret, certificates=certs) as c:
        summary = c.run(spec)
        assert summary["ok"], summary.get("error")
        assert sorted(summary["registered"]) == ["A", "B"]
        before = {}
        for name, (path, _) in sites.items():
            with st.Store(path, read_only=True) as s:
                before[name] = st.table_checksums(s)
        # a run signed with another secret gets nothing from any site, and changes nothing
        c.secret_file = other
        refused = c.run(RunSpec(run_id="loop-intruder", task="response", family="logistic",
                                folds=3, max_rounds=2), reply_timeout_s=30)
    assert not refused["ok"] and "consortium secret" in refused["error"]
    for name, (path, _) in sites.items():
        with st.Store(path, read_only=True) as s:
            assert st.table_checksums(s) == before[name]
