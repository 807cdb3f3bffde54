#!/usr/bin/env bash
# The README's run command: set up a fresh machine, build, start a local swarm of two shard
# servers (blocks 0-14 and 15-29, separate processes on 127.0.0.1) and generate text through it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build -c release
BIN=.build/release/plumise-petals
"$BIN" plugins
echo

logs=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# Starts a shard server on a free port in the background (in this shell, so cleanup sees it).
start_server() {
    local name=$1 blocks=$2
    "$BIN" serve --shard-only --watch-pid $$ --blocks "$blocks" --host 127.0.0.1 --port 0 --threads 1 >"$logs/$name.out" 2>"$logs/$name.log" &
    pids+=($!)
}

# Prints a server's address once its "ready" line appears.
wait_ready() {
    local name=$1
    for _ in $(seq 1 300); do
        if grep -q '^ready ' "$logs/$name.out"; then sed -n 's/^ready //p' "$logs/$name.out"; return 0; fi
        sleep 0.1
    done
    echo "server $name did not start; see $logs/$name.log" >&2
    return 1
}

start_server a 0:15
start_server b 15:30
A=$(wait_ready a)
B=$(wait_ready b)
echo "== swarm: node A serves blocks [0,15) at $A, node B serves [15,30) at $B"
echo "== generate through the swarm (embeddings and head here, blocks on A then B)"
"$BIN" generate --chat --prompt "${PROMPT:-What is the capital of France? Answer in one sentence.}" \
    --peers "$A,$B" --max-new-tokens "${MAX_NEW_TOKENS:-48}"
