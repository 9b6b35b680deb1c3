"""The federated environment (``.venv-federated``, scripts/setup_federated.sh) for the
tests that run Flower: skipped without it on a workstation, a failure under CI."""
from __future__ import annotations

import os

import pytest

from crlm.federated.processes import federated_bin
from crlm.federated.protocol import FederatedError


def need_flower(binary: str = "flower-superlink") -> None:
    try:
        federated_bin(binary)
    except FederatedError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the federated environment is missing in CI: {exc}")
        pytest.skip(str(exc))
