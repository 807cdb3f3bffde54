#!/usr/bin/env bash
# Checks CKernels' matrix products (every batch size, K-quant and other quantized types) against
# llama.cpp's mul_mat run by ggml's CPU backend of the reference build (build_llama_cpp.sh) with
# its default settings, repacking buffer included: bit for bit. Built with the compiler and flags
# SwiftPM gives CKernels (clang -O3). Not part of CI. Usage: check_matmul_vs_ggml.sh [LLAMA_DIR] [TYPE]
set -euo pipefail
cd "$(dirname "$0")/../.."
LLAMA=${1:-/opt/llama-ref}
CC=${CC:-$(command -v clang || echo cc)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$CC" -O3 -fno-math-errno -o "$tmp/matmul_vs_ggml" scripts/reference/matmul_vs_ggml.c CKernels/src/*.c \
    -I "$LLAMA/src/ggml/include" -I CKernels/include -L "$LLAMA/build/bin" -lggml -lggml-cpu -lggml-base \
    -Wl,-rpath,"$LLAMA/build/bin" -lopenblas -lm -lpthread
"$tmp/matmul_vs_ggml" "${@:2}"
