#!/usr/bin/env bash
# Regenerates the Qwen2, Qwen3, Gemma 3 and Mistral fixtures of Tests/Fixtures/safetensors with
# transformers (arguments: fixture kinds, default all; VENV as in venv_python.sh).
exec "$(dirname "$0")/venv_python.sh" scripts/reference/make_family_safetensors_fixtures.py "$@"
