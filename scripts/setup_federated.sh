#!/usr/bin/env bash
# The federated environment .venv-federated (flwr and its pinned dependencies from
# requirements-federated.txt). flwr needs protobuf < 7 and starlette < 1.4, below the
# app's pins, so it cannot share .venv. The app's own packages (numpy, pandas, duckdb,
# scikit-learn, torch, ...) and this checkout are read from .venv through a .pth file
# that Python reads after this environment's own site-packages, so flwr's protobuf and
# starlette win inside .venv-federated and the app's .venv is never touched.
# Re-running is cheap: skipped when the requirements did not change.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || { echo "setup_federated: run scripts/setup.sh first (.venv missing)" >&2; exit 1; }
if [ ! -x .venv-federated/bin/python ]; then
  echo "setup: creating .venv-federated" >&2
  "$PYTHON" -m venv .venv-federated
fi
stamp=.venv-federated/.requirements.sha256
want=$(cat requirements-federated.txt requirements.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing requirements-federated.txt into .venv-federated" >&2
  .venv-federated/bin/python -m pip install --quiet --no-deps -r requirements-federated.txt
  own=$(.venv-federated/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  app=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  # "zz" sorts after every other .pth file; the lines are appended to sys.path, after
  # this environment's own site-packages.
  printf '%s\n%s\n' "$app" "$PWD" > "$own/zz_crlm_app_stack.pth"
  .venv-federated/bin/python -c 'import flwr, google.protobuf, starlette, pandas, duckdb, sklearn, crlm' \
    || { echo "setup_federated: .venv-federated cannot import the app's stack" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
