"""ClientApp: one site. Its SuperNode's node config names the store, cohort and site:
``--node-config "db='/srv/crlm/centre.duckdb' cohort='demo' site='A'"``."""
from __future__ import annotations

from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from crlm.federated.site import handle

from .records import from_record, to_record

app = ClientApp()


@app.query()
def query(msg: Message, context: Context) -> Message:
    cfg = context.node_config
    reply = handle(str(cfg["db"]), str(cfg["cohort"]), str(cfg["site"]), from_record(msg.content))
    return Message(content=to_record(reply), reply_to=msg)
