"""Our messages <-> Flower records: config as JSON in a ConfigRecord, arrays in an ArrayRecord."""
from __future__ import annotations

import json

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, RecordDict


def to_record(msg: dict) -> RecordDict:
    arrays = ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in msg["arrays"].items()})
    config = ConfigRecord({"kind": msg["kind"], "json": json.dumps(msg["config"])})
    return RecordDict({"config": config, "arrays": arrays})


def from_record(content: RecordDict) -> dict:
    """A message from a Flower record; anything else becomes a malformed message that
    ``crlm.federated.protocol.check_message`` refuses."""
    try:
        cfg = content["config"]
        arrays = content["arrays"]
        return {"kind": str(cfg["kind"]), "config": json.loads(str(cfg["json"])),
                "arrays": {k: arrays[k].numpy() for k in arrays.keys()}}
    except (KeyError, TypeError, ValueError) as exc:
        return {"malformed": str(exc)[:100]}
