#!/usr/bin/env bash
# Regenerates Tests/Fixtures/gguf-tiny (tiny Qwen2/Qwen3 GGUFs and llama.cpp's outputs on them)
# in the virtualenv of make_safetensors_fixtures.sh (torch, transformers; not part of CI).
#   VENV=/path/to/venv to choose the virtualenv; the argument is the llama.cpp directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/plumise-petals/venv-safetensors}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q -r scripts/reference/requirements-safetensors.txt
"$venv/bin/python" scripts/reference/make_qwen_fixtures.py "$@"
