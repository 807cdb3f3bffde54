#!/usr/bin/env bash
# Runs a reference script in the virtualenv of the transformers fixtures (torch, transformers,
# tokenizers, safetensors, gguf; scripts/reference/requirements-safetensors.txt), made on first use
# outside the repository. Not part of CI.
#   VENV=/path/to/venv to choose where the virtualenv lives (kept for the next run).
# Usage: scripts/reference/venv_python.sh SCRIPT.py [ARGS...]
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/plumise-petals/venv-safetensors}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q -r scripts/reference/requirements-safetensors.txt
"$venv/bin/python" "$@"
