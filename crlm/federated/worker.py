"""A site's worker: one long-lived process that answers the coordinator's messages.

Flower starts a fresh ClientApp process for every message a SuperNode receives. If that
process answered from the store itself, each message would pay for importing the app's
stack (pandas, scikit-learn, DuckDB) again. Instead ``crlm federated join`` runs this
worker next to its SuperNode: the ClientApp (``flower_app/client_app.py``) imports
only flwr, numpy and ``wire``, and forwards the message over a Unix socket that only
the site's user can open; the worker checks the consortium secret's signature,
answers with ``site.handle`` (which opens and closes the store for each message and
records the reply in the audit log) and signs its reply. The worker keeps no patient
row between messages.
"""
from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

from crlm.federated import wire
from crlm.federated.protocol import message


def answer(data: bytes, db, cohort: str, site: str, secret: bytes | None) -> bytes:
    """The reply frame to one request frame (an ``error`` reply when it is refused)."""
    from crlm.federated.site import handle

    try:
        request = wire.verify(wire.decode(data), secret)
    except wire.WireError as exc:
        reply = message("error", {"site": site, "error": f"site {site}: {exc}"[:300]})
    else:
        reply = handle(db, cohort, site, request)
    return wire.encode(wire.sign(reply, secret))


def open_socket(path) -> socket.socket:
    """A listening Unix socket at ``path`` that only this user can connect to."""
    p = Path(path)
    if len(str(p)) > 100:
        raise wire.WireError(f"socket path {p} is too long for a Unix socket")
    p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(p.parent, 0o700)
    if p.exists():
        p.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(p))
    finally:
        os.umask(old)
    sock.listen(8)
    sock.settimeout(0.5)
    return sock


def serve(db, cohort: str, site: str, socket_path, secret: bytes | None = None, *,
          keep_going=lambda: True, log=None) -> int:
    """Answer frames on ``socket_path`` until ``keep_going()`` is false; returns how many."""
    import crlm.federated.site  # noqa: F401 - imported once here, not at the first message

    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    sock = open_socket(socket_path)
    answered = 0
    try:
        while keep_going():
            try:
                conn, _ = sock.accept()
            except (socket.timeout, InterruptedError):
                continue
            with conn:
                conn.settimeout(300)
                try:
                    request = wire.recv_frame(conn)
                    start = time.perf_counter()
                    reply = answer(request, db, cohort, site, secret)
                    wire.send_frame(conn, reply)
                    answered += 1
                    log(f"site {site}: answered message {answered} "
                        f"in {time.perf_counter() - start:.2f} s")
                except (OSError, wire.WireError) as exc:
                    log(f"site {site}: a message could not be read or answered: {exc}")
    finally:
        sock.close()
        try:
            Path(socket_path).unlink()
        except OSError:
            pass
    return answered
