#!/usr/bin/env bash
# Measures the packed Q4_1 tile against the least arithmetic that gives llama.cpp's bits (x86-64
# with AVX2 only): both in one run, so the ratio holds while the machine's speed drifts.
exec "$(dirname "$0")/run.sh" q4_1_ceiling
