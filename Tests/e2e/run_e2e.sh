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

# Release by default. scripts/test.sh passes the flags of the build it already made for the Swift
# tests (release with -enable-testing), so this build finds nothing to do.
read -r -a BUILD_FLAGS <<< "${E2E_SWIFT_BUILD_FLAGS:--c release}"
echo "e2e: building (swift build ${BUILD_FLAGS[*]})"
swift build "${BUILD_FLAGS[@]}" 2>&1 | tail -1
BIN=$(swift build "${BUILD_FLAGS[@]}" --show-bin-path)/plumise-petals

pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    echo "e2e: logs in $LOGS"
    exit $status
}
trap cleanup EXIT INT TERM

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits for the "ready" line of a process's stdout file and prints what follows "ready ".
wait_ready() {
    local name=$1 out=$2 pid=$3
    for _ in $(seq 1 1200); do
        if grep -q '^\(devnet \)\?ready ' "$out"; then sed -n 's/^\(devnet \)\?ready //p' "$out" | head -1; return 0; fi
        kill -0 "$pid" 2>/dev/null || { echo "e2e: $name exited; see $LOGS/$name.log" >&2; return 1; }
        sleep 0.1
    done
    echo "e2e: $name not ready after 120 s; see $LOGS/$name.log" >&2
    return 1
}

CHAIN_PORT=$(free_port); ORACLE_PORT=$(free_port)
"$BIN" devnet --chain-port "$CHAIN_PORT" --oracle-port "$ORACLE_PORT" --data-dir "$LOGS/devnet-data" \
    --watch-pid $$ >"$LOGS/devnet.out" 2>"$LOGS/devnet.log" &
pids+=($!)
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
    pids+=($!)
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
