#!/usr/bin/env bash
# Start the dashboard on the demo cohort: set-up, demo store if missing, then Streamlit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CRLM_DB=${CRLM_DB:-data/crlm.duckdb}
# The demo store holds only synthetic patients: no sign-in (refused for real cohorts).
export CRLM_DEMO_MODE=${CRLM_DEMO_MODE:-1}
if [ ! -f "$CRLM_DB" ]; then
  echo "Building the synthetic demo cohort and training its models (a few minutes, once)..." >&2
  .venv/bin/python -m crlm --db "$CRLM_DB" demo || { rm -f "$CRLM_DB" "$CRLM_DB.wal"; exit 1; }
  .venv/bin/python -m crlm samples || true
fi
PORT=${PORT:-$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
echo "CRLM Cohort Explorer: http://127.0.0.1:${PORT}  (Ctrl-C to stop)"
exec .venv/bin/streamlit run app.py --server.headless true --server.address 127.0.0.1 \
  --server.port "$PORT" --browser.gatherUsageStats false
