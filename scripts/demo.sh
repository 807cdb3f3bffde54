#!/usr/bin/env bash
# The README's run command: set up, build, and run the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build -c release
.build/release/plumise-petals plugins
