#!/usr/bin/env bash
# Measures ours against llama.cpp on the default model in four formats (Q4_1 as shipped, and
# Q8_0, F16, F32 made from it by llama-quantize), on its K-quant mixes Q4_K_M, Q5_K_M and Q6_K
# (llama-quantize from the F32 GGUF, as make_kquant_fixtures.sh makes them) and on the real
# Gemma 3 270M Q4_K_M file; FILES="a.gguf b.gguf" picks others. Each file in one petals-bench run that
# alternates the two programs ROUNDS times (default 3) and reports the median of the rounds'
# ratios. Writes one JSON report per file and a Markdown table to OUT.
# Not part of CI: the first time it builds llama.cpp (scripts/reference/build_llama_cpp.sh, 6 min
# on 2 cores here); the four files then took 4.5 min with the defaults.
#   usage: scripts/bench_vs_llama_cpp.sh [OUT (default bench-results)] [LLAMA_DIR (default /opt/llama-ref)]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench-results}
LLAMA_DIR=${2:-/opt/llama-ref}
THREADS=${THREADS:-2}
REPETITIONS=${REPETITIONS:-3}
ROUNDS=${ROUNDS:-3}
# A plain release build (no -enable-testing) in its own folder, apart from the tests' build.
SCRATCH=${SCRATCH:-.build-bench}

./scripts/setup.sh
[ -x "$LLAMA_DIR/build/bin/llama-bench" ] || ./scripts/reference/build_llama_cpp.sh "$LLAMA_DIR"
swift build -c release --scratch-path "$SCRATCH"   # petals-bench and the plugins it loads
BENCH=$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/petals-bench
mkdir -p "$OUT" models/extra

base=models/SmolLM2-135M-Instruct.Q4_1.gguf
files=("$base")
for t in q8_0 f16 f32; do
    f=models/extra/SmolLM2-135M-Instruct.$t.gguf
    if [ ! -s "$f" ]; then
        echo "bench: making $f with llama-quantize"
        "$LLAMA_DIR/build/bin/llama-quantize" --allow-requantize "$base" "$f.part" "$(echo $t | tr a-z A-Z)" >/dev/null 2>&1
        mv "$f.part" "$f"
    fi
    files+=("$f")
done

for t in Q4_K_M Q5_K_M Q6_K; do
    f=models/kquant/SmolLM2-135M-Instruct.$t.gguf
    if [ ! -s "$f" ]; then
        ./scripts/reference/convert_default_model.sh
        mkdir -p models/kquant
        echo "bench: making $f with llama-quantize"
        "$LLAMA_DIR/build/bin/llama-quantize" models/SmolLM2-135M-Instruct-dequantized.f32.gguf "$f.part" "$t" 2 >/dev/null 2>&1
        mv "$f.part" "$f"
    fi
    files+=("$f")
done
[ -s models/gemma-3-270m-q4_k_m.gguf ] && files+=(models/gemma-3-270m-q4_k_m.gguf)
if [ -n "${FILES:-}" ]; then read -r -a files <<< "$FILES"; fi

table="$OUT/table.md"
{
    echo "| file | test | ours tok/s | llama.cpp tok/s | ratio (median) | ratio of each round |"
    echo "|------|------|-----------:|----------------:|---------------:|---------------------|"
} > "$table"
for f in "${files[@]}"; do
    name=$(basename "$f" .gguf); case "$name" in SmolLM2*) name=${name##*.} ;; esac
    echo "bench: $f ($THREADS threads, $REPETITIONS repetitions, $ROUNDS rounds)"
    "$BENCH" --model "$f" --threads "$THREADS" --repetitions "$REPETITIONS" --rounds "$ROUNDS" \
        --compare-llama-cpp "$LLAMA_DIR/build/bin/llama-bench" --json "$OUT/$name.json"
    python3 - "$OUT/$name.json" "$name" >> "$table" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
comparison = report.get("llamaCpp")
if not comparison:
    sys.exit("no llama.cpp figures in %s: %s" % (sys.argv[1], report.get("notes")))
ours, theirs = comparison["oursTokensPerSecond"], comparison["tokensPerSecond"]
for test in sorted(ours, key=lambda t: (t.startswith("tg"), int(t[2:]))):
    rounds = " ".join("%.2f" % r for r in comparison["roundRatios"][test])
    print("| %s | %s | %.1f | %.1f | %.2fx | %s |" % (sys.argv[2].upper(), test, ours[test], theirs[test],
                                                   comparison["ratioOursOverTheirs"][test], rounds))
PY
done
echo "bench: table in $table"
cat "$table"
