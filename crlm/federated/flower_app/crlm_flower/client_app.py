"""ClientApp: one site. It forwards each message to the site's worker
(``crlm.federated.worker``, started by ``crlm federated join``) whose Unix socket the
SuperNode's node config names: ``--node-config "worker='/run/crlm-site/site.sock'
site='A'"``. ``join`` runs it in the resident executor (``resident.py``), one process
for the whole life of the site; ``app`` is the same answer as a Flower ClientApp for a
SuperNode in Flower's default isolation (a fresh process per message)."""
from __future__ import annotations

from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from crlm.federated import wire

from .records import from_record, to_record

app = ClientApp()


def error(site: str, text: str) -> dict:
    return {"kind": "error", "config": {"site": site, "error": text[:300]}, "arrays": {}}


def answer(msg: Message, node_config) -> Message:
    """The site's reply to one coordinator message (from its worker)."""
    site = str(node_config.get("site", "?"))
    request = from_record(msg.content)
    if "malformed" in request:
        reply = error(site, f"site {site}: malformed message ({request['malformed']})")
    elif "worker" not in node_config:
        reply = error(site, f"site {site}: the SuperNode names no worker; "
                            "start it with python -m crlm federated join")
    else:
        try:
            reply = wire.ask(str(node_config["worker"]), request)
        except (OSError, wire.WireError) as exc:
            reply = error(site, f"site {site}: its worker did not answer ({exc})")
    return Message(content=to_record(reply), reply_to=msg)


@app.query()
def query(msg: Message, context: Context) -> Message:
    return answer(msg, context.node_config)
