#!/usr/bin/env bash
# Sets up a fresh machine and runs every test: the Swift tests, then the end-to-end suite with
# real processes (Tests/e2e/run_e2e.sh). This is the README's test command and CI's.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# Plugins are dynamic-library products: build them (and everything else) before testing.
swift build
swift test
Tests/e2e/run_e2e.sh
