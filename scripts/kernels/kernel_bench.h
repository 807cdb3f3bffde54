// What the kernel micro-benchmarks of scripts/kernels share: a clock and the best time of a
// packed product over repeated calls.
#ifndef KERNEL_BENCH_H
#define KERNEL_BENCH_H

#include "ckernels.h"
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

#endif
