#!/usr/bin/env bash
# Measures the packed Q4_1 tile against the least arithmetic that gives llama.cpp's bits (x86-64
# with AVX2 only): both in one run, so the ratio holds while the machine's speed drifts. Builds
# with the toolchain's clang and the kernels' own flags; nothing is installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
CC=${CC:-$(command -v clang || echo /opt/swift/usr/bin/clang)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$CC" -O3 -fno-math-errno -ICKernels/include -ICKernels/src CKernels/src/*.c scripts/kernels/q4_1_ceiling.c \
    -o "$out/q4_1_ceiling" -lopenblas -lm -lpthread
"$out/q4_1_ceiling"
