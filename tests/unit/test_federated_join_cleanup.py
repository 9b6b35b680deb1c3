"""``crlm federated join`` owns its children: killed by PID (SIGTERM to the join
process alone, not its process group) it stops its SuperNode and resident executor;
killed outright (SIGKILL), they end on their parent-death signal (Linux). A SuperLink
on 127.0.0.1 (insecure, loopback only) and an empty site store; no run is started.

These need ``.venv-federated`` (scripts/setup_federated.sh): they skip without it on a
workstation and fail under CI."""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from crlm import store as st
from crlm.federated.loopback import Loopback
from tests.support.flower import need_flower

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]


def _processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command line) of every process now."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[int(entry.name)] = (int(fields[1]), fields[0], cmdline)
    return out


def _descendants(pid: int) -> dict[int, str]:
    procs = _processes()
    found, todo = {}, [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, state, cmd) in procs.items():
            if ppid == parent and child not in found and state != "Z":
                found[child] = cmd
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    info = _processes().get(pid)
    return info is not None and info[1] != "Z"  # a zombie has ended; only its entry is left


def _started_site(tmp_path: Path):
    db = tmp_path / "site.duckdb"
    with st.Store(db):
        pass
    c = Loopback({"A": (str(db), "demo")}, tmp_path / "run")
    c.__enter__()
    join = c.joined["A"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = _descendants(join.pid)
        if any("flower-supernode" in cmd for cmd in children.values()) \
                and any("crlm_flower.resident" in cmd for cmd in children.values()):
            return c, join, children
        assert join.poll() is None, (tmp_path / "run" / "site-A.log").read_text()[-2000:]
        time.sleep(0.2)
    c.close()
    pytest.fail("the site's SuperNode and resident executor did not start within 60 s")


def _wait_gone(pids, timeout_s: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout_s
    left = list(pids)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [p for p in left if _alive(p)]
    return left


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_join_killed_by_pid_leaves_no_supernode(tmp_path, sig):
    need_flower("flower-supernode")
    c, join, children = _started_site(tmp_path)
    try:
        os.kill(join.pid, sig)  # the join process alone, not its group
        join.wait(30)
        left = _wait_gone(children)
        assert not left, {p: children[p] for p in left}
        commands = set(children.values())  # nor any process with one of their command lines
        assert not [p for p, (_, state, cmd) in _processes().items()
                    if cmd in commands and state != "Z"]
    finally:
        for pid in children:  # never leave a process behind, whatever the outcome
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        c.close()
