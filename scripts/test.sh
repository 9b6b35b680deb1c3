#!/usr/bin/env bash
# Run every test: set-up first (virtual environment, Chromium, R), the linter, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Lint first (pyproject.toml [tool.ruff]: errors that are bugs, not style).
.venv/bin/ruff check --quiet . || { echo "ruff found the problems above" >&2; exit 1; }
# Test files run in parallel, one worker per core up to four (TEST_WORKERS overrides; 0 runs
# them in this process). A file's tests stay together, so its module fixtures are built once.
workers="${TEST_WORKERS:-$(nproc 2>/dev/null || echo 1)}"
case "$workers" in
    ''|*[!0-9]*) echo "TEST_WORKERS must be a whole number, got '$workers'" >&2; exit 2 ;;
esac
[ "$workers" -gt 4 ] && workers=4
if [ "$workers" -gt 1 ]; then
    exec .venv/bin/python -m pytest -n "$workers" --dist loadfile "$@"
fi
exec .venv/bin/python -m pytest "$@"
