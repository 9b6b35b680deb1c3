"""Messages as bytes, and the consortium secret that signs them.

A federated message (``protocol.message``) travels between the Flower ClientApp of a
site and the site's worker (``worker.py``) as one frame: an 8-byte length and a JSON
header (kind, config, and each array's dtype and shape), then the arrays' raw bytes in
that order. No pickle: a frame decodes to plain JSON and numeric arrays only.

Signing: with a consortium secret, the coordinator signs each request and each site
signs its reply with HMAC-SHA256 over the frame of the message without its ``mac``;
the other end refuses a message whose ``mac`` is missing or wrong. A run submitted to
the SuperLink by anyone without the secret therefore gets no answer from any site.
This module imports only the standard library and numpy (the ClientApp process that
forwards a message starts fast).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import struct
from pathlib import Path

import numpy as np

MAC_KEY = "mac"
MAX_FRAME = 64 * 1024 * 1024
_DTYPES = {"f8", "f4", "i8", "i4", "i2", "i1", "u8", "u4", "u2", "u1", "b1"}
MIN_SECRET_BYTES = 32


class WireError(ValueError):
    """A frame or signature that cannot be used (one line)."""


def encode(msg: dict) -> bytes:
    arrays = {k: np.ascontiguousarray(v) for k, v in msg["arrays"].items()}
    header = {"kind": msg["kind"], "config": msg["config"],
              "arrays": [[k, a.dtype.str[1:], list(a.shape)] for k, a in arrays.items()]}
    head = json.dumps(header, sort_keys=True, allow_nan=False).encode()
    body = b"".join(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
                    for a in arrays.values())
    return struct.pack("<Q", len(head)) + head + body


def decode(data: bytes) -> dict:
    try:
        (n,) = struct.unpack_from("<Q", data, 0)
        header = json.loads(data[8:8 + n].decode())
        pos, arrays = 8 + n, {}
        for name, dtype, shape in header["arrays"]:
            if dtype not in _DTYPES:
                raise WireError(f"array {name}: dtype {dtype!r} not accepted")
            dt = np.dtype("<" + dtype)
            size = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
            if size < 0 or pos + size > len(data):
                raise WireError("frame shorter than its arrays")
            arrays[str(name)] = np.frombuffer(data, dt, int(np.prod(shape, dtype=np.int64)),
                                              pos).reshape(shape).copy()
            pos += size
        if pos != len(data):
            raise WireError("frame longer than its arrays")
        return {"kind": header["kind"], "config": header["config"], "arrays": arrays}
    except (struct.error, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError,
            ValueError) as exc:
        if isinstance(exc, WireError):
            raise
        raise WireError(f"malformed frame: {type(exc).__name__}") from None


def _mac(msg: dict, secret: bytes) -> str:
    body = {**msg, "config": {k: v for k, v in msg["config"].items() if k != MAC_KEY}}
    return hmac.new(secret, encode(body), hashlib.sha256).hexdigest()


def sign(msg: dict, secret: bytes | None) -> dict:
    """The message with its ``mac`` (unchanged without a secret)."""
    if not secret:
        return msg
    clean = {**msg, "config": {k: v for k, v in msg["config"].items() if k != MAC_KEY}}
    return {**clean, "config": {**clean["config"], MAC_KEY: _mac(clean, secret)}}


def verify(msg: dict, secret: bytes | None) -> dict:
    """The message without its ``mac``; ``WireError`` when the secret is set and the mac
    is missing or wrong."""
    if not isinstance(msg, dict) or not isinstance(msg.get("config"), dict):
        raise WireError("malformed message")
    given = msg["config"].get(MAC_KEY)
    clean = {**msg, "config": {k: v for k, v in msg["config"].items() if k != MAC_KEY}}
    if secret:
        if not isinstance(given, str) or not hmac.compare_digest(given, _mac(clean, secret)):
            raise WireError("message not signed with the consortium secret; refused")
    return clean


def read_secret(path) -> bytes:
    """The consortium secret from a file readable by its owner only (at least 32 bytes)."""
    p = Path(path)
    if not p.is_file():
        raise WireError(f"no consortium secret file at {p}")
    if os.name == "posix" and p.stat().st_mode & 0o077:
        raise WireError(f"{p} is readable by others; chmod 600 it")
    secret = p.read_bytes().strip()
    if len(secret) < MIN_SECRET_BYTES:
        raise WireError(f"the consortium secret in {p} is shorter than {MIN_SECRET_BYTES} bytes")
    return secret


# -- frames over a Unix socket -------------------------------------------------------
def send_frame(sock: socket.socket, data: bytes) -> None:
    sock.sendall(struct.pack("<Q", len(data)) + data)


def recv_frame(sock: socket.socket) -> bytes:
    head = _recv_exact(sock, 8)
    (n,) = struct.unpack("<Q", head)
    if n > MAX_FRAME:
        raise WireError("frame too large")
    return _recv_exact(sock, n)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            raise WireError("connection closed mid-frame")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def ask(socket_path: str, msg: dict, timeout_s: float = 300.0) -> dict:
    """Send one message to a site worker and return its reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(str(socket_path))
        send_frame(sock, encode(msg))
        return decode(recv_frame(sock))
