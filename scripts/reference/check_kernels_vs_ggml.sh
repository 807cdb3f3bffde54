#!/usr/bin/env bash
# Checks CKernels' quantized dots and dequantization against llama.cpp's own kernels (libggml-cpu
# of the reference build, see build_llama_cpp.sh): every type's vec_dot (Q4_0 ... Q8_0, Q5_0,
# Q5_1, Q2_K ... Q6_K, IQ4_XS) and the repacked 8-row gemv llama.cpp runs for Q4_K and IQ4_NL, on
# random blocks, bit for bit. Not part of CI (it needs the reference build); prints one line per
# type and exits 1 on any difference.
set -euo pipefail
cd "$(dirname "$0")/../.."
LLAMA=${1:-/opt/llama-ref}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/kernels_vs_ggml" scripts/reference/kernels_vs_ggml.c CKernels/src/*.c \
    -I "$LLAMA/src/ggml/include" -I CKernels/include -L "$LLAMA/build/bin" -lggml-cpu -lggml-base \
    -Wl,-rpath,"$LLAMA/build/bin" -lopenblas -lm -lpthread
"$tmp/kernels_vs_ggml"
