#!/usr/bin/env bash
# Regenerates Tests/Fixtures/sentencepiece-json (SentencePiece-style tokenizer.json files and the
# tokenizers library's ids for them) in a virtualenv outside the repository (not part of CI).
#   VENV=/path/to/venv to choose where the virtualenv lives (kept for the next run).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/plumise-petals/venv-tokenizers}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q tokenizers==0.23.3
"$venv/bin/python" scripts/reference/make_sentencepiece_json_fixtures.py "$@"
