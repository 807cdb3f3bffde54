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
    # The sdist straight from the index's simple page (its sha256 checked): `pip download
    # --no-binary` would first build the sdist's build requirements, cmake from source among them.
    python3 - "$tmp" <<'PY' || python3 -m pip download llama-cpp-python==0.3.36 --no-deps --no-binary :all: -d "$tmp" -q
import hashlib, re, sys, urllib.request
page = urllib.request.urlopen("https://pypi.org/simple/llama-cpp-python/").read().decode()
url, digest = re.search(r'href="([^"#]*/llama_cpp_python-0\.3\.36\.tar\.gz)#sha256=([0-9a-f]{64})"', page).groups()
data = urllib.request.urlopen(url).read()
if hashlib.sha256(data).hexdigest() != digest:
    sys.exit("llama_cpp_python-0.3.36.tar.gz: sha256 mismatch")
open(sys.argv[1] + "/llama_cpp_python-0.3.36.tar.gz", "wb").write(data)
print("fetched", url.rsplit("/", 1)[-1], "sha256", digest)
PY
    tar xzf "$tmp"/llama_cpp_python-0.3.36.tar.gz -C "$tmp"
    mv "$tmp"/llama_cpp_python-0.3.36/vendor/llama.cpp "$DIR/src"
    rm -rf "$tmp"
fi
command -v cmake >/dev/null || { echo "cmake is required (apt-get install cmake)"; exit 1; }
cmake -S "$DIR/src" -B "$DIR/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DGGML_NATIVE=ON \
    -DBUILD_SHARED_LIBS=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=ON
cmake --build "$DIR/build" -j"$(nproc)" --target llama llama-tokenize llama-bench llama-quantize llama-simple llama-server
echo "llama.cpp built in $DIR/build/bin"
