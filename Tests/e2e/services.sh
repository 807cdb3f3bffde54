#!/usr/bin/env bash
# The end-to-end suite's services by hand (what the seed guide's docker-compose file does; no
# container engine runs here): the devnet (dev chain + dev oracle) and pipeline nodes A and B as
# detached processes on 127.0.0.1, their state and logs in logs/services/ (E2E_SERVICES_DIR).
# While they run, pytest Tests/e2e reuses them. See docs/E2E.md.
#   Tests/e2e/services.sh up [oracle|node-a|node-b ...] | status | logs [-f] [-n N] [service ...] | env | down
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
[ -x "$PY" ] || { echo "services: $PY missing; run scripts/setup.sh first" >&2; exit 2; }
exec "$PY" Tests/e2e/services.py "$@"
