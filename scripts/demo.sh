#!/usr/bin/env bash
# The README's run command: set up a fresh machine, build, and generate text with the default
# model split into two shards (blocks 0-14 and 15-29) chained in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build -c release
BIN=.build/release/plumise-petals
"$BIN" plugins
echo
echo "== generate across two shards: blocks [0,15) then [15,30)"
"$BIN" generate --chat --prompt "${PROMPT:-What is the capital of France? Answer in one sentence.}" \
    --blocks 0:15 --blocks 15:30 --max-new-tokens "${MAX_NEW_TOKENS:-48}"
