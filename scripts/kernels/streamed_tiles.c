// The packed Q4_1 batch product on weights in cache against weights streamed from memory (see
// streamed_tiles.sh): 16 tokens against 1536 (0.6 MB, in L2), 12288 (4.4 MB) and 98304 rows
// (35 MB, more than the caches hold, as a model's weights are in every decode step), 576 columns.
#include "kernel_bench.h"
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    const int64_t cols = 576, tokens = 16, sizes[] = { 1536, 12288, 98304 };
    for (int threads = 1; threads <= 2; threads++) {
        for (int si = 0; si < 3; si++) {
            const int64_t rows = sizes[si];
            srand(1);
            ck_packed *p = random_packed_matrix(CK_Q4_1, rows, cols);
            const size_t row_bytes = ck_row_size(CK_Q4_1, cols);
            float *x = malloc(sizeof(float) * tokens * cols), *y = malloc(sizeof(float) * tokens * rows);
            for (int64_t i = 0; i < tokens * cols; i++) x[i] = 3 * (rand() / (float)RAND_MAX - 0.5f);
            ck_pool *pool = ck_pool_create(threads);
            // About the same work per repetition at every size.
            const int n = (int)(200 * 1536 / rows) + 2;
            double best = 1e9;
            for (int rep = 0; rep < 5; rep++) {
                const double t0 = bench_now();
                for (int i = 0; i < n; i++) ck_matmul_packed(pool, p, x, tokens, y);
                const double dt = (bench_now() - t0) / n;
                if (dt < best) best = dt;
            }
            printf("Q4_1, %6lld x 576 (%4.1f MB) x 16 tokens, %d thread%s: %.3f ns per (row, token, block) per thread, %.1f GB/s of weights\n",
                   (long long)rows, (double)(rows * row_bytes) / 1e6, threads, threads > 1 ? "s" : " ",
                   best * 1e9 * threads / (double)(rows * tokens * (cols / 32)), (double)(rows * row_bytes) / best / 1e9);
            ck_pool_destroy(pool);
            ck_packed_free(p);
            free(x), free(y);
        }
    }
    return 0;
}
