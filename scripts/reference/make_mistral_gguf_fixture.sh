#!/usr/bin/env bash
# Regenerates Tests/Fixtures/gguf-tiny/mistral-* (the tiny Mistral-style llama GGUFs, tekken
# pre-tokenizer, and llama.cpp's outputs on them); the argument is the llama.cpp directory.
exec "$(dirname "$0")/venv_python.sh" scripts/reference/make_mistral_gguf_fixture.py "$@"
