#!/usr/bin/env bash
# Regenerates Tests/Fixtures/chat_templates (the templates and jinja2's renderings of them) in a
# virtualenv outside the repository (not part of CI).
#   VENV=/path/to/venv to choose where the virtualenv lives (kept for the next run).
#   Arguments go to make_chat_template_fixtures.py (--llama-cpp DIR, --no-collect).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/plumise-petals/venv-templates}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q -r scripts/reference/requirements-templates.txt
"$venv/bin/python" scripts/reference/make_chat_template_fixtures.py "$@"
