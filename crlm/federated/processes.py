"""The Flower processes behind ``python -m crlm federated serve | join | run``.

They run from ``.venv-federated`` (``scripts/setup_federated.sh``): flwr needs
protobuf < 7 and starlette < 1.4, the app pins newer ones. The coordinator runs
``flower-superlink``; each site runs ``flower-supernode`` whose ClientApp answers from
the site's store (``crlm.federated.site``); ``run`` submits the Flower App in
``crlm/federated/flower_app`` with ``flwr run`` and waits for its summary.

TLS is the default; ``insecure`` is accepted only for loopback addresses (tests, the
demo on one machine).
"""
from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from crlm.federated.protocol import FederatedError, RunSpec

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = Path(__file__).resolve().parent / "flower_app"


def federated_bin(name: str) -> Path:
    """A console script of ``.venv-federated`` (``CRLM_FEDERATED_VENV`` overrides)."""
    venv = Path(os.environ.get("CRLM_FEDERATED_VENV", ROOT / ".venv-federated"))
    path = venv / "bin" / name
    if not path.is_file():
        raise FederatedError(f"{path} is missing; run scripts/setup_federated.sh "
                             "(flwr lives in its own environment)")
    return path


def _env(flwr_home: Path | None = None) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{federated_bin('python').parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)  # .venv-federated finds crlm and the app's stack by its .pth
    if flwr_home is not None:
        env["FLWR_HOME"] = str(flwr_home)
    return env


def check_address(address: str, insecure: bool) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise FederatedError(f"address {address!r} must be HOST:PORT")
    if insecure:
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise FederatedError("--insecure is allowed only on loopback (127.0.0.1); "
                                 "use TLS certificates between hospitals")
    return host, int(port)


def _tls(certificates: Path | None, insecure: bool) -> list[str]:
    if insecure:
        return ["--insecure"]
    if certificates is None:
        raise FederatedError("give --certificates DIR (ca.crt, server.pem, server.key) or, "
                             "on loopback only, --insecure")
    files = {n: Path(certificates) / n for n in ("ca.crt", "server.pem", "server.key")}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise FederatedError(f"missing certificate files: {', '.join(missing)}")
    return ["--ssl-ca-certfile", str(files["ca.crt"]), "--ssl-certfile", str(files["server.pem"]),
            "--ssl-keyfile", str(files["server.key"])]


def serve_command(address: str, *, insecure: bool = False, certificates=None) -> list[str]:
    host, port = check_address(address, insecure)
    return [str(federated_bin("flower-superlink")), *_tls(certificates, insecure),
            "--host", host, "--port", str(port), "--disable-runtime-dependency-installation"]


def join_command(db, cohort: str, site: str, coordinator: str, *, port: int,
                 insecure: bool = False, root_certificate=None) -> list[str]:
    check_address(coordinator, insecure)
    if not Path(db).is_file():
        raise FederatedError(f"no store at {db}")
    for name, value in (("cohort", cohort), ("site", site)):
        if not value or any(ch in value for ch in "'\"= \\"):
            raise FederatedError(f"--{name} must be a plain name without quotes, spaces or '='")
    tls = ["--insecure"] if insecure else (
        ["--root-certificates", str(root_certificate)] if root_certificate else None)
    if tls is None:
        raise FederatedError("give --root-certificates ca.crt or, on loopback only, --insecure")
    node_config = f"db='{Path(db).resolve()}' cohort='{cohort}' site='{site}'"
    return [str(federated_bin("flower-supernode")), *tls, "--superlink", coordinator,
            "--port", str(int(port)), "--node-config", node_config]


def run_federated(spec: RunSpec, coordinator: str, *, expected_sites: int, insecure: bool = False,
                  root_certificate=None, wait_s: float = 60, reply_timeout_s: float = 120,
                  timeout_s: float = 1800) -> dict:
    """Submit the run to the coordinator's SuperLink and wait for its summary."""
    check_address(coordinator, insecure)
    with tempfile.TemporaryDirectory(prefix="crlm-flwr-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        conn = {"address": coordinator, "insecure": bool(insecure)}
        if root_certificate:
            conn["root-certificates"] = str(Path(root_certificate).resolve())
        lines = ["[superlink]", 'default = "consortium"', "[superlink.consortium]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in conn.items()]
        (home / "config.toml").write_text("\n".join(lines) + "\n")
        summary = Path(tmp) / "summary.json"
        overrides = {"spec": json.dumps(spec.to_dict()), "expected-sites": int(expected_sites),
                     "wait-s": float(wait_s), "reply-timeout-s": float(reply_timeout_s),
                     "summary": str(summary)}
        cfg_file = Path(tmp) / "run.toml"
        cfg_file.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in overrides.items()))
        cmd = [str(federated_bin("flwr")), "run", str(APP_DIR), "consortium",
               "--run-config", str(cfg_file), "--stream"]
        proc = subprocess.run(cmd, env=_env(home), capture_output=True, text=True,
                              timeout=timeout_s)
        deadline = time.monotonic() + 30
        while not summary.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        if not summary.exists():
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            raise FederatedError("the run left no summary: " + " | ".join(tail))
        return json.loads(summary.read_text())


def start(cmd: list[str], log_path=None) -> subprocess.Popen:
    """Start a Flower process in the federated environment (its own process group)."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    return subprocess.Popen(cmd, env=_env(), stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)


def exec_in_foreground(cmd: list[str]) -> int:
    """Run a Flower process until it ends (Ctrl+C stops it)."""
    try:
        return subprocess.call(cmd, env=_env())
    except KeyboardInterrupt:
        return 130


__all__ = ["serve_command", "join_command", "run_federated", "start", "exec_in_foreground",
           "check_address", "federated_bin", "sys"]
