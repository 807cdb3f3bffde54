#!/usr/bin/env bash
# Measures the packed Q4_1 / Q8_0 batch tiles for AVX-512 VNNI (CKernels/src/ck_packed_vnni.c)
# against the AVX2 tiles in one process, after checking they give the same bits.
exec "$(dirname "$0")/run.sh" vnni_tiles
