#!/usr/bin/env bash
# Bounded soak test on 127.0.0.1: a devnet (chain + oracle) and one full node holding every
# block; two normal clients whose every answer is checked against the node's own greedy output,
# three abusive HTTP clients (slow headers, garbage, oversized bodies, bad JSON, abandoned
# streams, HTTP/1.0) and three abusive shard clients (garbage, 4 GB frame headers, trickled
# frames, silent sessions, floods of 20 connections) for SOAK_SECONDS (default 180); then the
# node's RSS, threads and fds must be back at their baseline. Exits non-zero on any failure.
# Expects scripts/setup.sh to have run (model, .venv). Usage: scripts/soak.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_TO_RUN=${1:-${SOAK_SECONDS:-180}}
LOGS=${SOAK_LOG_DIR:-logs/soak-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$LOGS"
PY=.venv/bin/python
[ -x "$PY" ] || { echo "soak: $PY missing; run scripts/setup.sh first" >&2; exit 2; }
source scripts/lib/processes.sh
build_binary "${SOAK_SWIFT_BUILD_FLAGS:--c release}"

CHAIN_PORT=$(free_port); ORACLE_PORT=$(free_port)
"$BIN" devnet --chain-port "$CHAIN_PORT" --oracle-port "$ORACLE_PORT" --data-dir "$LOGS/devnet-data" \
    --watch-pid $$ >"$LOGS/devnet.out" 2>"$LOGS/devnet.log" &
track $!
wait_ready devnet "$LOGS/devnet.out" $! >/dev/null
KEY=$(grep -o '0x[0-9a-fA-F]\{64\}' "$LOGS/devnet.out" | head -1)

SHARD_PORT=$(free_port)
# Short idle timeouts so what the abusers leave behind is closed within the settle time.
PLUMISE_PRIVATE_KEY=$KEY "$BIN" serve --env-file /dev/null --watch-pid $$ --threads 1 --host 127.0.0.1 \
    --port "$SHARD_PORT" --api-port 0 --rpc-url "http://127.0.0.1:$CHAIN_PORT" \
    --oracle-url "http://127.0.0.1:$ORACLE_PORT" --report-interval 10 --idle-timeout 5 --step-timeout 5 \
    --api-idle-timeout 5 >"$LOGS/node.out" 2>"$LOGS/node.log" &
NODE=$!
track $NODE
READY=$(wait_ready node "$LOGS/node.out" $NODE)
API="http://127.0.0.1:${READY##* }"
echo "soak: node $NODE, shard port $SHARD_PORT, API $API, $SECONDS_TO_RUN s"
"$PY" scripts/soak.py --api "$API" --shard-port "$SHARD_PORT" --pid "$NODE" --seconds "$SECONDS_TO_RUN" \
    | tee "$LOGS/soak.txt"
