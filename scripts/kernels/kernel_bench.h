// What the kernel micro-benchmarks of scripts/kernels share: a clock and the best time of a
// packed product over repeated calls.
#ifndef KERNEL_BENCH_H
#define KERNEL_BENCH_H

#include "ckernels.h"
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/// Seconds of one ck_matmul_packed call: the best of 5 runs of 200 calls.
static inline double best_matmul_seconds(ck_pool *pool, const ck_packed *p, const float *x, int64_t tokens, float *y) {
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        const double t0 = bench_now();
        for (int i = 0; i < 200; i++) ck_matmul_packed(pool, p, x, tokens, y);
        const double dt = (bench_now() - t0) / 200;
        if (dt < best) best = dt;
    }
    return best;
}

/// A rows x cols matrix of uniform weights in [-0.5, 0.5) (rand()), quantized to `type` (Q4_1 or
/// Q8_0) and packed as a model packs it at load.
static inline ck_packed *random_packed_matrix(int type, int64_t rows, int64_t cols) {
    float *w = malloc(sizeof(float) * rows * cols);
    for (int64_t i = 0; i < rows * cols; i++) w[i] = rand() / (float)RAND_MAX - 0.5f;
    const size_t row_bytes = ck_row_size(type, cols);
    uint8_t *q = malloc(row_bytes * rows);
    for (int64_t r = 0; r < rows; r++) {
        if (type == CK_Q4_1) ck_quantize_row_q4_1(w + r * cols, (ck_block_q4_1 *)(q + r * row_bytes), cols);
        else ck_quantize_row_q8_0(w + r * cols, (ck_block_q8_0 *)(q + r * row_bytes), cols);
    }
    const void *parts[1] = { q };
    const int64_t part_rows[1] = { rows };
    ck_packed *p = ck_pack_weights(type, 1, parts, part_rows, cols);
    free(w), free(q);
    return p;
}

#endif
