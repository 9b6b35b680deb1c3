"""A consortium on one machine, every part in its own process, on 127.0.0.1 only:
the coordinator's SuperLink and one ``python -m crlm federated join`` per site (its
SuperNode, resident executor and worker). For the tests, the benchmark and the demo.
Without ``certificates`` it runs insecure (loopback only); with a folder of
certificates (ca.crt, server.pem, server.key for 127.0.0.1) and a secret it runs as
between hospitals."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from crlm.federated import processes
from crlm.federated.protocol import FederatedError, RunSpec


def _free_block(n: int = 3) -> int:
    """A port p with p .. p+n-1 free on 127.0.0.1 (at the time of asking)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p + n >= 65534:
            continue
        ok = True
        for q in range(p + 1, p + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", q))
                except OSError:
                    ok = False
        if ok:
            return p
    raise FederatedError("no free block of ports on 127.0.0.1")


def _wait_port(port: int, timeout_s: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise FederatedError(f"the SuperLink ended at start-up; see {log}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise FederatedError(f"the SuperLink did not listen on 127.0.0.1:{port} within {timeout_s} s")


class Loopback:
    """``with Loopback({"A": (db, cohort), ...}, workdir) as c: c.run(spec)``."""

    def __init__(self, sites: dict, workdir, *, secret_file=None, certificates=None):
        if certificates and not secret_file:
            raise FederatedError("TLS runs need the consortium secret too")
        self.certificates = Path(certificates) if certificates else None
        self.sites = dict(sites)
        self.workdir = Path(workdir)
        self.secret_file = secret_file
        self.port = 0
        self.link: subprocess.Popen | None = None
        self.joined: dict[str, subprocess.Popen] = {}

    @property
    def insecure(self) -> bool:
        return self.certificates is None

    @property
    def ca(self) -> str | None:
        return None if self.insecure else str(self.certificates / "ca.crt")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> "Loopback":
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.port = _free_block(1)
            log = self.workdir / "superlink.log"
            cmd = processes.serve_command(self.address, insecure=self.insecure,
                                          certificates=self.certificates)
            self.link = processes.start(cmd, log)
            _wait_port(self.port, 60, self.link, log)
            for name in self.sites:
                self.joined[name] = self._join(name)
        except BaseException:
            self.close()
            raise
        return self

    def _join(self, name: str) -> subprocess.Popen:
        db, cohort = self.sites[name]
        cmd = [sys.executable, "-m", "crlm", "federated", "join", "--db", str(db),
               "--cohort", cohort, "--site", name, "--coordinator", self.address,
               "--log", str(self.workdir / f"supernode-{name}.log"), "--verbose"]
        cmd += ["--insecure"] if self.insecure else ["--root-certificates", self.ca]
        if self.secret_file:
            cmd += ["--secret-file", str(self.secret_file)]
        out = open(self.workdir / f"site-{name}.log", "ab")
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def run(self, spec: RunSpec, *, reply_timeout_s: float = 60, wait_s: float = 90) -> dict:
        return processes.run_federated(spec, self.address, expected_sites=len(self.sites),
                                       insecure=self.insecure, root_certificate=self.ca,
                                       secret_file=self.secret_file,
                                       wait_s=wait_s, reply_timeout_s=reply_timeout_s)

    def kill(self, name: str) -> None:
        """Kill a site at once (SIGKILL to its worker, SuperNode and ClientApps)."""
        proc = self.joined[name]
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def close(self) -> None:
        for proc in self.joined.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(15)
                except ProcessLookupError:
                    pass
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        if self.link is not None:
            processes.stop_process(self.link)

    def __exit__(self, *exc) -> None:
        self.close()
