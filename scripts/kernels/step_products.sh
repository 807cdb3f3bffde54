#!/usr/bin/env bash
# Times the matrix products of one 16-sequence decode step of the default model's shapes outside
# the model, on 1 and 2 threads in one run (compare with `petals-bench --batch-sizes 16 --phases`).
exec "$(dirname "$0")/run.sh" step_products
