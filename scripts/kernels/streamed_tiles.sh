#!/usr/bin/env bash
# Measures the packed Q4_1 batch product on weights in cache and on weights streamed from memory
# (a model's do not fit in the caches): with the next groups' weights prefetched
# (CKernels/src/ck_packed_matmul.c), the streamed product should run near the in-cache speed.
exec "$(dirname "$0")/run.sh" streamed_tiles
