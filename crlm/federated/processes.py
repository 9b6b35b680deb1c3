"""The Flower processes behind ``python -m crlm federated serve | join | run``.

They run from ``.venv-federated`` (``scripts/setup_federated.sh``): flwr needs
protobuf < 7 and starlette < 1.4, the app pins newer ones.

- ``serve`` runs ``flower-superlink``: its Fleet API (sites connect), Control API
  (``flwr run``) and runtime API share one HTTP(S) port on the address given.
- ``join`` runs ``flower-supernode`` and, in the same command, the site's worker
  (``worker.py``) that answers the messages from the store; the SuperNode's ClientApp
  forwards each message to the worker over a private Unix socket.
- ``run`` submits the Flower App in ``crlm/federated/flower_app`` to the Control API
  with ``flwr run`` and waits for its summary.

TLS and the consortium secret are required; ``insecure`` is accepted only for loopback
addresses (tests, the demo on one machine), where the secret is optional.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from crlm.federated import wire
from crlm.federated.protocol import FederatedError, RunSpec

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = Path(__file__).resolve().parent / "flower_app"
SUPEREXEC_POLL_S = "0.05"  # how often a SuperNode's SuperExec looks for a new message
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def federated_bin(name: str) -> Path:
    """A console script of ``.venv-federated`` (``CRLM_FEDERATED_VENV`` overrides)."""
    venv = Path(os.environ.get("CRLM_FEDERATED_VENV", ROOT / ".venv-federated"))
    path = venv / "bin" / name
    if not path.is_file():
        raise FederatedError(f"{path} is missing; run scripts/setup_federated.sh "
                             "(flwr lives in its own environment)")
    return path


def _env(flwr_home: Path | None = None, *, app_path: bool = False) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{federated_bin('python').parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)  # .venv-federated finds crlm and the app's stack by its .pth
    if app_path:  # the Flower App's package (crlm_flower), for the resident executor
        env["PYTHONPATH"] = str(APP_DIR)
    env.pop("VIRTUAL_ENV", None)
    env["FLWR_SUPEREXEC_TASK_POLL_INTERVAL"] = SUPEREXEC_POLL_S
    env.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    if flwr_home is not None:
        env["FLWR_HOME"] = str(flwr_home)
    return env


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_address(address: str, insecure: bool) -> tuple[str, int]:
    host, _, port = str(address).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise FederatedError(f"address {address!r} must be HOST:PORT")
    if insecure and not is_loopback(host):
        raise FederatedError("--insecure is allowed only on loopback (127.0.0.1); "
                             "use TLS certificates and the consortium secret between hospitals")
    return host, int(port)


def check_secret(secret_file, insecure: bool) -> bytes | None:
    if secret_file:
        try:
            return wire.read_secret(secret_file)
        except wire.WireError as exc:
            raise FederatedError(str(exc)) from None
    if not insecure:
        raise FederatedError("give --secret-file (the consortium secret, 32 bytes or more) or, "
                             "on loopback only, --insecure")
    return None


def _server_tls(certificates, insecure: bool) -> list[str]:
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


def _client_tls(root_certificate, insecure: bool) -> list[str]:
    if insecure:
        return ["--insecure"]
    if not root_certificate:
        raise FederatedError("give --root-certificates ca.crt or, on loopback only, --insecure")
    if not Path(root_certificate).is_file():
        raise FederatedError(f"no CA certificate at {root_certificate}")
    return ["--root-certificates", str(Path(root_certificate).resolve())]


def serve_command(address: str, *, insecure: bool = False, certificates=None) -> list[str]:
    host, port = check_address(address, insecure)
    tls = _server_tls(certificates, insecure)
    return [str(federated_bin("flower-superlink")), *tls,
            "--host", host.strip("[]"), "--port", str(port),
            "--disable-runtime-dependency-installation"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_site(db, cohort: str, site: str) -> None:
    from crlm.federated.protocol import _NAME

    if not Path(db).is_file():
        raise FederatedError(f"no store at {db}")
    if not cohort or any(ch in cohort for ch in "'\"=\\\n"):
        raise FederatedError("--cohort must be a plain name without quotes or '='")
    if not _NAME.match(site or ""):
        raise FederatedError("--site must be 1-64 letters, digits or . _ : -")


def supernode_command(coordinator: str, *, site: str, worker_socket, runtime_port: int,
                      insecure: bool = False, root_certificate=None) -> list[str]:
    check_address(coordinator, insecure)
    tls = _client_tls(root_certificate, insecure)
    node_config = f"worker='{Path(worker_socket)}' site='{site}'"
    return [str(federated_bin("flower-supernode")), *tls,
            "--superlink", coordinator, "--host", "127.0.0.1", "--port", str(int(runtime_port)),
            "--isolation", "process", "--node-config", node_config]


def resident_command(runtime_port: int) -> list[str]:
    """The site's resident executor (``flower_app/crlm_flower/resident.py``): one process
    that answers every message of its SuperNode (Flower would start one per message)."""
    return [str(federated_bin("python")), "-m", "crlm_flower.resident",
            "--runtime-api-address", f"127.0.0.1:{int(runtime_port)}",
            "--parent-pid", str(os.getpid())]


def join(db, cohort: str, site: str, coordinator: str, *, insecure: bool = False,
         root_certificate=None, secret_file=None, log_path=None, log=None) -> int:
    """Run a site until its SuperNode ends or the command is stopped (Ctrl+C, SIGTERM):
    the SuperNode and the resident executor in processes of their own, the worker in
    this one. They are stopped when this command stops; killed outright (SIGKILL to
    this process alone), it leaves none behind either: on Linux the kernel sends them
    SIGTERM when their parent dies."""
    check_site(db, cohort, site)
    secret = check_secret(secret_file, insecure)
    with tempfile.TemporaryDirectory(prefix="crlm-site-") as tmp:
        sock = Path(tmp) / "site.sock"
        port = free_port()
        cmd = supernode_command(coordinator, site=site, worker_socket=sock, runtime_port=port,
                                insecure=insecure, root_certificate=root_certificate)
        from crlm.federated.worker import serve

        # in this process's group: a killed site takes its SuperNode and executor along
        node = start(cmd, log_path, own_group=False, die_with_parent=True)
        resident = start(resident_command(port), log_path, own_group=False, app_path=True,
                         die_with_parent=True)
        stopping = []

        def stop(signum, frame):
            stopping.append(signum)
        old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            serve(str(Path(db).resolve()), cohort, site, sock, secret,
                  keep_going=lambda: not stopping and node.poll() is None
                  and resident.poll() is None, log=log)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            stop_process(resident)
            stop_process(node)
        if node.returncode not in (0, None, -signal.SIGTERM) and not stopping:
            raise FederatedError(f"the SuperNode of site {site} ended with code {node.returncode}"
                                 + (f"; see {log_path}" if log_path else ""))
    return 0


def run_federated(spec: RunSpec, coordinator: str, *, expected_sites: int, insecure: bool = False,
                  root_certificate=None, secret_file=None, wait_s: float = 60,
                  reply_timeout_s: float = 120, timeout_s: float = 1800) -> dict:
    """Submit the run to the coordinator's SuperLink and wait for its summary (the
    ServerApp writes it on the coordinator's machine: run this there)."""
    host, port = check_address(coordinator, insecure)
    check_secret(secret_file, insecure)
    tls = _client_tls(root_certificate, insecure)
    with tempfile.TemporaryDirectory(prefix="crlm-flwr-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        conn = {"address": f"{host}:{port}", "insecure": bool(insecure)}
        if not insecure:
            conn["root-certificates"] = tls[1]
        lines = ["[superlink]", 'default = "consortium"', "[superlink.consortium]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in conn.items()]
        (home / "config.toml").write_text("\n".join(lines) + "\n")
        summary = Path(tmp) / "summary.json"
        overrides = {"spec": json.dumps(spec.to_dict()), "expected-sites": int(expected_sites),
                     "wait-s": float(wait_s), "reply-timeout-s": float(reply_timeout_s),
                     "summary": str(summary),
                     "secret-file": str(Path(secret_file).resolve()) if secret_file else ""}
        cfg_file = Path(tmp) / "run.toml"
        cfg_file.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in overrides.items()))
        cmd = [str(federated_bin("flwr")), "run", str(APP_DIR), "consortium",
               "--run-config", str(cfg_file), "--stream"]
        proc = subprocess.Popen(cmd, env=_env(home), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while not summary.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        grace = time.monotonic() + 10  # the summary may land just after flwr returns
        while not summary.exists() and time.monotonic() < grace:
            time.sleep(0.2)
        stop_process(proc)  # --stream keeps following the logs after the run
        if not summary.exists():
            out = proc.stdout.read() if proc.stdout else ""
            tail = out.strip().splitlines()[-5:]
            raise FederatedError("the run left no summary: " + " | ".join(tail))
        return json.loads(summary.read_text())


def _parent_death_signal():
    """A ``preexec_fn`` asking the kernel to send the child SIGTERM when the thread that
    started it ends, however it ends (Linux ``prctl(PR_SET_PDEATHSIG)``); ``None`` where
    there is no such call. Start such children from the main thread only."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:  # in the child, between fork and exec
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent:  # the parent died before the call: follow it now
            os.kill(os.getpid(), signal.SIGTERM)
    return preexec


def start(cmd: list[str], log_path=None, *, own_group: bool = True,
          app_path: bool = False, die_with_parent: bool = False) -> subprocess.Popen:
    """Start a Flower process in the federated environment (by default in its own
    process group, which ``stop_process`` stops as a whole). ``die_with_parent``: it
    gets SIGTERM when this process dies, even by SIGKILL (Linux)."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    preexec = _parent_death_signal() if die_with_parent else None
    proc = subprocess.Popen(cmd, env=_env(app_path=app_path), stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=own_group, preexec_fn=preexec)
    proc.own_group = own_group
    return proc


def stop_process(proc: subprocess.Popen, grace_s: float = 10) -> None:
    """Stop a process started by ``start`` and the processes it started (its group)."""
    if not getattr(proc, "own_group", True):  # in this process's group: stop it alone
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(grace_s)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    else:  # the leader is gone; its children (SuperExec, ClientApps) may not be
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass


def exec_in_foreground(cmd: list[str]) -> int:
    """Become the Flower process (``exec``): Ctrl+C, SIGTERM or systemd reach it
    directly and nothing is left behind."""
    os.execve(cmd[0], cmd, _env())
    return 0  # not reached
