#!/usr/bin/env bash
# Run every test: set-up first (virtual environment, Chromium), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
