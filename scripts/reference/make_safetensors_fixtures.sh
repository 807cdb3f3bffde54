#!/usr/bin/env bash
# Regenerates Tests/Fixtures/safetensors (tiny BLOOM, GPT-2 and Llama models with transformers'
# outputs) in a virtualenv outside the repository (not part of CI: torch is a large download).
#   VENV=/path/to/venv to choose where the virtualenv lives (kept for the next run).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/plumise-petals/venv-safetensors}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q -r scripts/reference/requirements-safetensors.txt
"$venv/bin/python" scripts/reference/make_safetensors_fixtures.py "$@"
