#!/usr/bin/env bash
# Regenerates the chain fixtures with eth-account in a throwaway virtualenv (not part of CI).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=$(mktemp -d)/venv
python3 -m venv "$venv"
"$venv/bin/pip" install -q -r scripts/reference/requirements-chain.txt
"$venv/bin/python" scripts/reference/make_chain_vectors.py
