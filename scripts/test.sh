#!/usr/bin/env bash
# Run every test: set-up first (virtual environment, Chromium, R), the linter, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Lint first (pyproject.toml [tool.ruff]: errors that are bugs, not style).
.venv/bin/ruff check --quiet . || { echo "ruff found the problems above" >&2; exit 1; }
exec .venv/bin/python -m pytest "$@"
