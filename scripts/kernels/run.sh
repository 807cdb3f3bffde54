#!/usr/bin/env bash
# Builds scripts/kernels/NAME.c against the kernels (the toolchain's clang, the kernels' own
# flags; nothing is installed) and runs it: ./scripts/kernels/run.sh NAME
set -euo pipefail
cd "$(dirname "$0")/../.."
CC=${CC:-$(command -v clang || echo /opt/swift/usr/bin/clang)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$CC" -O3 -fno-math-errno -ICKernels/include -ICKernels/src -Iscripts/kernels CKernels/src/*.c "scripts/kernels/$1.c" \
    -o "$out/$1" -lopenblas -lm -lpthread
"$out/$1"
