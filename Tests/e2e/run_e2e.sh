#!/usr/bin/env bash
# The end-to-end suite as CI runs it: builds release, then runs plain pytest over Tests/e2e. The
# suite's session fixture (conftest.py, services.py) starts a devnet (chain + oracle) and two
# nodes splitting the model (A: blocks 0:NUM_BLOCKS, B: the rest) as separate processes on
# 127.0.0.1, keeps every log and a JUnit report in one folder, and stops every process it
# started, whatever happens. Exits non-zero when anything fails. Expects scripts/setup.sh to have
# run (model, .venv). Arguments go to pytest (e.g. -k concurrent).
set -euo pipefail
cd "$(dirname "$0")/../.."

export E2E_LOG_DIR=${E2E_LOG_DIR:-logs/e2e-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$E2E_LOG_DIR"
E2E_LOG_DIR=$(cd "$E2E_LOG_DIR" && pwd)
PY=.venv/bin/python
[ -x "$PY" ] || { echo "e2e: $PY missing; run scripts/setup.sh first" >&2; exit 2; }

# Release by default. scripts/test.sh passes the flags of the build it already made for the Swift
# tests (release with -enable-testing), so this build finds nothing to do.
read -r -a BUILD_FLAGS <<< "${E2E_SWIFT_BUILD_FLAGS:--c release}"
echo "e2e: building (swift build ${BUILD_FLAGS[*]})"
swift build "${BUILD_FLAGS[@]}" 2>&1 | tail -1
E2E_BIN=$(swift build "${BUILD_FLAGS[@]}" --show-bin-path)/plumise-petals
# Services of its own, even when services.sh runs some (those may run another model).
export E2E_BIN E2E_OWN_SERVICES=1
exec "$PY" -m pytest Tests/e2e --junitxml "$E2E_LOG_DIR/junit.xml" -p no:cacheprovider "$@"
