#!/usr/bin/env bash
# Sets up a fresh machine and runs every test. This is the README's test command and CI's.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# Plugins are dynamic-library products: build them (and everything else) before testing.
swift build
swift test
