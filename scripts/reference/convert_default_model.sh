#!/usr/bin/env bash
# Converts the default model, models/SmolLM2-135M-Instruct.Q4_1.gguf, into
#   models/SmolLM2-135M-Instruct-dequantized/          a Hugging Face safetensors directory (F32)
#   models/SmolLM2-135M-Instruct-dequantized.f32.gguf  the same F32 weights as a GGUF file
# for the tests that run both model-format plugins on it (models/ is not committed). Needs
# numpy, gguf and safetensors only, in a small virtualenv outside the repository; does nothing
# when both outputs exist. scripts/test.sh runs it after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
source=models/SmolLM2-135M-Instruct.Q4_1.gguf
target=models/SmolLM2-135M-Instruct-dequantized
if [ -s "$target/model.safetensors" ] && [ -s "$target.f32.gguf" ]; then
    exit 0
fi
if [ ! -s "$source" ]; then
    echo "convert: $source is missing (run scripts/setup.sh)" >&2
    exit 1
fi
venv=${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/plumise-petals/venv-convert}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q -r scripts/reference/requirements-convert.txt
echo "convert: $source -> $target (F32 safetensors) and $target.f32.gguf"
"$venv/bin/python" scripts/reference/gguf_to_safetensors.py "$source" "$target" --f32-gguf "$target.f32.gguf"
