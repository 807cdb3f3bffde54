#!/usr/bin/env bash
# The README's run command: set up a fresh machine, build, start a local swarm of two shard
# servers (blocks 0-14 and 15-29, separate processes on 127.0.0.1) and generate text through it;
# then the whole system with a local chain and oracle (plumise-petals devnet --with-nodes 2).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# The flags of scripts/test.sh's build (release with -enable-testing), so the demo and the tests
# share one build: other flags would make either command compile everything again (~12 min on 2 cores).
swift build -c release -Xswiftc -enable-testing
BIN=$(swift build -c release -Xswiftc -enable-testing --show-bin-path)/plumise-petals
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

# The whole system on one machine: a dev chain and a dev oracle, two nodes that register on the
# chain, report to the oracle and split the model, and a generation through a node's HTTP API.
echo
echo "== the whole system: plumise-petals devnet --with-nodes 2 (dev chain, dev oracle, two nodes)"
"$BIN" devnet --with-nodes 2 --chain-port 0 --oracle-port 0 --data-dir "$logs/devnet" \
    >"$logs/devnet.out" 2>"$logs/devnet.log" &
pids+=($!)
for _ in $(seq 1 1200); do
    grep -q '^node 1 ready' "$logs/devnet.out" && break
    sleep 0.1
done
grep -q '^node 1 ready' "$logs/devnet.out" || { echo "the devnet did not start; see $logs/devnet.log" >&2; exit 1; }
grep -E '^(devnet ready|node [0-9] ready)' "$logs/devnet.out"
API=$(sed -n 's/^node 0 ready.* api \([^ ]*\) .*/\1/p' "$logs/devnet.out")
CHAIN=$(sed -n 's/^devnet ready chain \([^ ]*\) .*/\1/p' "$logs/devnet.out")
ORACLE=$(sed -n 's/^devnet ready chain [^ ]* oracle \([^ ]*\)$/\1/p' "$logs/devnet.out")
AGENT=$(sed -n 's/^node 0 ready agent \([^ ]*\) .*/\1/p' "$logs/devnet.out")
KEY=$(sed -n 's/^  \[0\] [^ ]*  \([^ ]*\)$/\1/p' "$logs/devnet.out")
echo "== POST $API/api/v1/generate"
python3 - "$API" <<'PY'
import json, sys, urllib.request
body = json.dumps({"inputs": "The capital of France is", "parameters": {"max_new_tokens": 24}}).encode()
request = urllib.request.Request(sys.argv[1] + "/api/v1/generate", body, {"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(request, timeout=120))["generated_text"])
PY
echo "== node 0 on the dev chain, and its signed report with the proof of that generation at the oracle"
sleep 11
"$BIN" status --rpc-url "$CHAIN" --private-key "$KEY"
python3 - "$ORACLE" "$AGENT" <<'PY'
import json, sys, urllib.request
metrics = json.load(urllib.request.urlopen(f"{sys.argv[1]}/api/v1/metrics/agents/{sys.argv[2]}", timeout=10))
print(f"Oracle           {metrics.get('reports', 0)} reports, {metrics.get('tokensProcessed', 0)} tokens, "
      f"{metrics.get('proofs', 0)} proofs, score {metrics.get('score', 0):.0f}")
PY
