"""ServerApp: the coordinator. Waits for the expected sites, then runs
``crlm.federated.coordinator.run_consortium`` over Flower messages and writes the
run's summary (no patient data: settings, rounds, metrics) as JSON where asked.

Requests are signed and replies checked with the consortium secret when the run
config names a ``secret-file``. Replies are polled every ``poll-s`` seconds (Flower's
``send_and_receive`` waits 3 s between polls, which would add seconds to every round)."""
from __future__ import annotations

import json
import time
from pathlib import Path

from flwr.app import Context, Message
from flwr.serverapp import Grid, ServerApp

from crlm.federated import wire
from crlm.federated.coordinator import run_consortium
from crlm.federated.protocol import FederatedError, RunSpec

from .records import from_record, to_record

app = ServerApp()


class FlowerTransport:
    def __init__(self, grid: Grid, timeout_s: float, secret: bytes | None = None,
                 poll_s: float = 0.1):
        self.grid, self.timeout_s, self.secret, self.poll_s = grid, timeout_s, secret, poll_s

    def keys(self) -> list[int]:
        return list(self.grid.get_node_ids())

    def _checked(self, reply: dict) -> dict | None:
        if "malformed" in reply:
            return None
        try:
            return wire.verify(reply, self.secret)
        except wire.WireError:
            if reply.get("kind") == "error":  # e.g. the ClientApp could not reach its worker
                return reply
            return {"kind": "error", "config": {"error": "reply not signed with the "
                                                "consortium secret"}, "arrays": {}}

    def exchange(self, requests: dict) -> dict:
        # a site whose node has left (a killed site, once the SuperLink has noticed) is
        # not sent anything: it counts as not answering, and the others' round goes on
        online = set(self.grid.get_node_ids())
        msgs = [Message(content=to_record(wire.sign(m, self.secret)), message_type="query",
                        dst_node_id=int(k)) for k, m in requests.items() if int(k) in online]
        ids = {i for i in self.grid.push_messages(msgs) if i} if msgs else set()
        out: dict = {}
        deadline = time.monotonic() + self.timeout_s
        while ids and time.monotonic() < deadline:
            for reply in self.grid.pull_messages(ids):
                ids.discard(reply.metadata.reply_to_message_id)
                if reply.has_content():
                    checked = self._checked(from_record(reply.content))
                    if checked is not None:
                        out[reply.metadata.src_node_id] = checked
            if ids:
                time.sleep(self.poll_s)
        return out


@app.main()
def main(grid: Grid, context: Context) -> None:
    rc = context.run_config
    summary = str(rc.get("summary", ""))
    try:
        secret_file = str(rc.get("secret-file", ""))
        secret = wire.read_secret(secret_file) if secret_file else None
        spec = RunSpec.from_dict(json.loads(str(rc["spec"])))
        expected, deadline = int(rc["expected-sites"]), time.monotonic() + float(rc["wait-s"])
        while len(list(grid.get_node_ids())) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        nodes = list(grid.get_node_ids())
        if len(nodes) < expected:
            raise FederatedError(f"only {len(nodes)} of {expected} sites joined within {rc['wait-s']} s")
        started = time.perf_counter()
        result = run_consortium(FlowerTransport(grid, float(rc["reply-timeout-s"]), secret,
                                                float(rc.get("poll-s", 0.1))), spec,
                                keys=nodes[:expected])
        out = {"ok": True, "seconds": round(time.perf_counter() - started, 3), **result.to_dict()}
    except (FederatedError, wire.WireError) as exc:
        out = {"ok": False, "error": str(exc)}
    print(json.dumps({k: out[k] for k in ("ok", "error", "run_id", "sites", "dropped") if k in out}))
    if summary:
        tmp = Path(summary + ".tmp")
        tmp.write_text(json.dumps(out, default=float, indent=1))
        tmp.replace(summary)
