#!/usr/bin/env bash
# Sets up a fresh machine and runs every test: the Swift tests, then the end-to-end suite with
# real processes (Tests/e2e/run_e2e.sh). This is the README's test command and CI's.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# The default model dequantized into a safetensors directory and an F32 GGUF (models/, not
# committed), for the tests that run both model-format plugins on it: numpy + gguf only, ~1 min.
./scripts/reference/convert_default_model.sh
# One build serves the Swift tests and the end-to-end suite: release (the e2e suite runs the
# node as users do), with -enable-testing because some tests use @testable. A second
# configuration would compile every dependency again (~11 min on a 2-core machine).
# Plugins are dynamic-library products: build them (and everything else) before testing.
BUILD_FLAGS=(-c release -Xswiftc -enable-testing)
swift build "${BUILD_FLAGS[@]}" --build-tests
swift test "${BUILD_FLAGS[@]}" --skip-build
E2E_SWIFT_BUILD_FLAGS="${BUILD_FLAGS[*]}" Tests/e2e/run_e2e.sh
