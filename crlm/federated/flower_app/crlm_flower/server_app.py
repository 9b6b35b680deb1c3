"""ServerApp: the coordinator. Waits for the expected sites, then runs
``crlm.federated.coordinator.run_consortium`` over Flower messages and writes the
run's summary (no patient data: settings, rounds, metrics) as JSON where asked."""
from __future__ import annotations

import json
import time
from pathlib import Path

from flwr.app import Context, Message
from flwr.serverapp import Grid, ServerApp

from crlm.federated.coordinator import run_consortium
from crlm.federated.protocol import FederatedError, RunSpec

from .records import from_record, to_record

app = ServerApp()


class FlowerTransport:
    def __init__(self, grid: Grid, timeout_s: float):
        self.grid, self.timeout_s = grid, timeout_s

    def keys(self) -> list[int]:
        return list(self.grid.get_node_ids())

    def exchange(self, requests: dict) -> dict:
        msgs = [Message(content=to_record(m), message_type="query", dst_node_id=int(k))
                for k, m in requests.items()]
        out = {}
        for reply in self.grid.send_and_receive(msgs, timeout=self.timeout_s):
            if reply.has_content():
                out[reply.metadata.src_node_id] = from_record(reply.content)
        return out


@app.main()
def main(grid: Grid, context: Context) -> None:
    rc = context.run_config
    summary = str(rc.get("summary", ""))
    try:
        spec = RunSpec.from_dict(json.loads(str(rc["spec"])))
        expected, deadline = int(rc["expected-sites"]), time.monotonic() + float(rc["wait-s"])
        while len(list(grid.get_node_ids())) < expected and time.monotonic() < deadline:
            time.sleep(0.5)
        nodes = list(grid.get_node_ids())
        if len(nodes) < expected:
            raise FederatedError(f"only {len(nodes)} of {expected} sites joined within {rc['wait-s']} s")
        result = run_consortium(FlowerTransport(grid, float(rc["reply-timeout-s"])), spec,
                                keys=nodes[:expected])
        out = {"ok": True, **result.to_dict()}
    except FederatedError as exc:
        out = {"ok": False, "error": str(exc)}
    print(json.dumps({k: out[k] for k in ("ok", "error", "run_id", "sites", "dropped") if k in out}))
    if summary:
        Path(summary).write_text(json.dumps(out, default=float, indent=1))
