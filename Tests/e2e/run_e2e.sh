#!/usr/bin/env bash
# The end-to-end suite: builds release, starts a devnet (chain + oracle) and two nodes splitting
# the model (A: blocks 0-14, B: 15-29) as separate processes on 127.0.0.1, runs the pytest suite
# against them, keeps every log in one folder, and always stops every process it started.
# Exits non-zero when anything fails. Expects scripts/setup.sh to have run (model, .venv).
set -euo pipefail
cd "$(dirname "$0")/../.."

LOGS=${E2E_LOG_DIR:-logs/e2e-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$LOGS"
LOGS=$(cd "$LOGS" && pwd)
PY=.venv/bin/python
[ -x "$PY" ] || { echo "e2e: $PY missing; run scripts/setup.sh first" >&2; exit 2; }

source scripts/lib/processes.sh
# Release by default. scripts/test.sh passes the flags of the build it already made for the Swift
# tests (release with -enable-testing), so this build finds nothing to do.
build_binary "${E2E_SWIFT_BUILD_FLAGS:--c release}"

CHAIN_PORT=$(free_port); ORACLE_PORT=$(free_port)
"$BIN" devnet --chain-port "$CHAIN_PORT" --oracle-port "$ORACLE_PORT" --data-dir "$LOGS/devnet-data" \
    --watch-pid $$ >"$LOGS/devnet.out" 2>"$LOGS/devnet.log" &
track $!
wait_ready devnet "$LOGS/devnet.out" $! >/dev/null
export E2E_CHAIN_URL="http://127.0.0.1:$CHAIN_PORT" E2E_ORACLE_URL="http://127.0.0.1:$ORACLE_PORT"
E2E_KEYS=$(grep -o '0x[0-9a-fA-F]\{64\}' "$LOGS/devnet.out" | paste -sd, -)
export E2E_KEYS
echo "e2e: devnet chain $E2E_CHAIN_URL oracle $E2E_ORACLE_URL, $(echo "$E2E_KEYS" | tr , '\n' | wc -l) funded keys"

KEY_A=$(echo "$E2E_KEYS" | cut -d, -f1); KEY_B=$(echo "$E2E_KEYS" | cut -d, -f2)
PORT_A=$(free_port); PORT_B=$(free_port)
start_node() {
    local name=$1 key=$2 port=$3 blocks=$4 peer=$5
    PLUMISE_PRIVATE_KEY=$key "$BIN" serve --env-file /dev/null --watch-pid $$ --threads 1 \
        --host 127.0.0.1 --port "$port" --api-port 0 --blocks "$blocks" --peers "127.0.0.1:$peer" \
        --rpc-url "$E2E_CHAIN_URL" --oracle-url "$E2E_ORACLE_URL" --report-interval 10 \
        >"$LOGS/$name.out" 2>"$LOGS/$name.log" &
    track $!
}
start_node node-a "$KEY_A" "$PORT_A" 0:15 "$PORT_B"
PID_A=$!
start_node node-b "$KEY_B" "$PORT_B" 15:30 "$PORT_A"
PID_B=$!
READY_A=$(wait_ready node-a "$LOGS/node-a.out" $PID_A)
READY_B=$(wait_ready node-b "$LOGS/node-b.out" $PID_B)
export E2E_NODE_A_API="http://127.0.0.1:${READY_A##* }" E2E_NODE_B_API="http://127.0.0.1:${READY_B##* }"
echo "e2e: node A $READY_A, node B $READY_B"

export E2E_BIN=$BIN E2E_MODEL=$(pwd)/models/SmolLM2-135M-Instruct.Q4_1.gguf E2E_LOG_DIR=$LOGS
"$PY" -m pytest -c Tests/e2e/pytest.ini Tests/e2e --junitxml "$LOGS/junit.xml" -p no:cacheprovider
