#!/usr/bin/env bash
# Builds llama.cpp, as vendored in the PyPI sdist of llama-cpp-python 0.3.36, into DIR
# (default /opt/llama-ref): DIR/src is the source tree, DIR/build/bin holds llama-bench,
# llama-tokenize, llama-quantize, llama-simple, llama-server and libllama.so. Used to regenerate the reference fixtures
# and by `petals-bench --compare-llama-cpp DIR/build/bin/llama-bench`. Not part of CI.
set -euo pipefail
DIR=${1:-/opt/llama-ref}
mkdir -p "$DIR"
if [ ! -d "$DIR/src" ]; then
    tmp=$(mktemp -d)
    python3 -m pip download llama-cpp-python==0.3.36 --no-deps --no-binary :all: -d "$tmp" -q
    tar xzf "$tmp"/llama_cpp_python-0.3.36.tar.gz -C "$tmp"
    mv "$tmp"/llama_cpp_python-0.3.36/vendor/llama.cpp "$DIR/src"
    rm -rf "$tmp"
fi
command -v cmake >/dev/null || { echo "cmake is required (apt-get install cmake)"; exit 1; }
cmake -S "$DIR/src" -B "$DIR/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DGGML_NATIVE=ON \
    -DBUILD_SHARED_LIBS=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=ON
cmake --build "$DIR/build" -j"$(nproc)" --target llama llama-tokenize llama-bench llama-quantize llama-simple llama-server
echo "llama.cpp built in $DIR/build/bin"
