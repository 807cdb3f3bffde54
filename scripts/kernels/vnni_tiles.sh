#!/usr/bin/env bash
# Measures the packed Q4_1 / Q8_0 batch tiles for AVX-512 VNNI (CKernels/src/ck_packed_vnni.c)
# against the AVX2 tiles in one process, after checking they give the same bits. Builds with the
# toolchain's clang and the kernels' own flags; nothing is installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
CC=${CC:-$(command -v clang || echo /opt/swift/usr/bin/clang)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$CC" -O3 -fno-math-errno -ICKernels/include -ICKernels/src CKernels/src/*.c scripts/kernels/vnni_tiles.c \
    -o "$out/vnni_tiles" -lopenblas -lm -lpthread
"$out/vnni_tiles"
