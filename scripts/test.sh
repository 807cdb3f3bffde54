#!/usr/bin/env bash
# Sets up a fresh machine and runs every test: the Swift tests, then the end-to-end suite with
# real processes (Tests/e2e/run_e2e.sh). This is the README's test command and CI's.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# The default model dequantized into a safetensors directory and an F32 GGUF (models/, not
# committed), for the tests that run both model-format plugins on it: numpy + gguf only, ~1 min.
./scripts/reference/convert_default_model.sh
# Plugins are dynamic-library products: build them (and everything else) before testing.
swift build
swift test
Tests/e2e/run_e2e.sh
