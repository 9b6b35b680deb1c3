#!/usr/bin/env bash
# Set up what the app and the tests need, once: the virtual environment with the
# pinned requirements, Debian's Chromium (figure export and browser tests) and
# Debian's R with survival and pROC (the reference tests run the exported R scripts).
# Re-running is cheap: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing requirements.txt into .venv (first time takes a few minutes)" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install --quiet -r requirements.txt
  echo "$want" > "$stamp"
fi
# The project itself, editable, so that `.venv/bin/crlm` runs the command line.
pstamp=.venv/.project.sha256
pwant=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$pstamp" 2>/dev/null)" != "$pwant" ] || [ ! -x .venv/bin/crlm ]; then
  .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
  echo "$pwant" > "$pstamp"
fi

# .venv-federated: flwr for python -m crlm federated (its protobuf/starlette pins differ)
bash scripts/setup_federated.sh

if ! command -v chromium >/dev/null 2>&1; then
  echo "setup: installing Debian's chromium (figure export, browser tests)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# R 4.2 + survival 3.5 + pROC 1.18 from Debian (the reference tests run the exported R scripts)
bash scripts/setup_r.sh || { rc=$?; [ "$rc" = 2 ] || exit "$rc"; }  # 2: no apt-get (tests skip)
