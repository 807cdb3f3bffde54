#!/usr/bin/env bash
# Regenerates Tests/Fixtures/safetensors (tiny BLOOM, GPT-2 and Llama models with transformers'
# outputs) in a virtualenv outside the repository (venv_python.sh; not part of CI: torch is a
# large download).
exec "$(dirname "$0")/venv_python.sh" scripts/reference/make_safetensors_fixtures.py "$@"
