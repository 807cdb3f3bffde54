#!/usr/bin/env bash
# K-quant files of the default model and llama.cpp's answers on them, for LlamaCppKQuantParityTests:
#   1. models/kquant/SmolLM2-135M-Instruct.<TYPE>.gguf made by llama.cpp's llama-quantize from
#      models/SmolLM2-135M-Instruct-dequantized.f32.gguf (convert_default_model.sh), for
#      Q4_K_M Q5_K_M Q6_K Q2_K Q3_K_M IQ4_XS (SmolLM2's rows of 576 are not a multiple of 256, so
#      llama-quantize stores those matrices as Q5_0 / Q5_1 / Q8_0 / IQ4_NL: each file is a mix);
#   2. Tests/Fixtures/smollm2-kquant/<TYPE>/greedy.json and logits.json: llama.cpp's 32-token greedy
#      continuations of the 7 prompts and the logits of the first prompt's prefill and first decode
#      step (make_llama_fixtures.py), and the sha256 of each file in files.txt.
# llama.cpp runs with its default settings (repacked Q4_K/Q2_K/IQ4_NL/Q4_0 weights, the tiled
# K-quant kernel for batches of 8 tokens or more), whose batch orders CKernels follows
# (ck_kquant_matmul.c; scripts/reference/check_matmul_vs_ggml.sh checks them kernel by kernel).
# Needs the reference build (build_llama_cpp.sh); not part of CI. Usage: make_kquant_fixtures.sh [LLAMA_DIR]
set -euo pipefail
unset GGML_CPU_TILED_MM GGML_CPU_TILED_MM_FORCE
cd "$(dirname "$0")/../.."
LLAMA=${1:-/opt/llama-ref}
TYPES=${KQUANT_TYPES:-"Q4_K_M Q5_K_M Q6_K Q2_K Q3_K_M IQ4_XS"}
./scripts/reference/convert_default_model.sh
source=models/SmolLM2-135M-Instruct-dequantized.f32.gguf
out=Tests/Fixtures/smollm2-kquant
mkdir -p models/kquant "$out"
: > "$out/files.txt.new"
for type in $TYPES; do
    file=models/kquant/SmolLM2-135M-Instruct.$type.gguf
    if [ ! -s "$file" ]; then
        "$LLAMA/build/bin/llama-quantize" "$source" "$file" "$type" 2 > "models/kquant/$type.log" 2>&1
    fi
    python3 scripts/reference/make_llama_fixtures.py "$LLAMA" --model "$file" --out "$out/$type" \
        --logit-prompts 1 --decode-steps 1 --skip-tokenize
    (cd models/kquant && sha256sum "SmolLM2-135M-Instruct.$type.gguf") >> "$out/files.txt.new"
done
mv "$out/files.txt.new" "$out/files.txt"
echo "K-quant fixtures written to $out"
