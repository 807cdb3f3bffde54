#!/usr/bin/env bash
# Regenerates Tests/Fixtures/gguf-tiny (tiny Qwen2/Qwen3 GGUFs and llama.cpp's outputs on them)
# in the transformers virtualenv (venv_python.sh); the argument is the llama.cpp directory.
exec "$(dirname "$0")/venv_python.sh" scripts/reference/make_qwen_fixtures.py "$@"
