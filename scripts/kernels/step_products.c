// The matrix products of one 16-token decode step of the default model (see step_products.sh):
// SmolLM2-135M's 30 blocks (q/k/v 960 x 576, attention output 576 x 576, gate and up 3072 x 576,
// down 576 x 1536, Q4_1, every block its own weights, so they stream from memory as in a step)
// and its Q8_0 head (49152 x 576), on 1 and 2 threads alternated, best of 12.
#include "kernel_bench.h"
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    const int64_t tokens = 16, shapes[4][2] = { { 960, 576 }, { 576, 576 }, { 3072, 576 }, { 576, 1536 } };
    srand(1);
    ck_packed *blocks[30][4];
    for (int l = 0; l < 30; l++)
        for (int k = 0; k < 4; k++) blocks[l][k] = random_packed_matrix(CK_Q4_1, shapes[k][0], shapes[k][1]);
    ck_packed *head = random_packed_matrix(CK_Q8_0, 49152, 576);
    float *x = malloc(sizeof(float) * tokens * 1536), *y = malloc(sizeof(float) * tokens * 49152);
    for (int64_t i = 0; i < tokens * 1536; i++) x[i] = 3 * (rand() / (float)RAND_MAX - 0.5f);
    ck_pool *pools[2] = { ck_pool_create(1), ck_pool_create(2) };
    double best[2][2] = { { 1e9, 1e9 }, { 1e9, 1e9 } };
    for (int rep = 0; rep < 24; rep++) {
        const int th = rep % 2;
        const double t0 = bench_now();
        for (int l = 0; l < 30; l++)
            for (int k = 0; k < 4; k++) ck_matmul_packed(pools[th], blocks[l][k], x, tokens, y);
        const double t1 = bench_now();
        ck_matmul_packed(pools[th], head, x, tokens, y);
        const double t2 = bench_now();
        if (t1 - t0 < best[th][0]) best[th][0] = t1 - t0;
        if (t2 - t1 < best[th][1]) best[th][1] = t2 - t1;
    }
    for (int th = 0; th < 2; th++)
        printf("16 tokens, %d thread%s: the blocks' products %.2f ms, the head %.2f ms\n", th + 1, th ? "s" : " ",
               best[th][0] * 1e3, best[th][1] * 1e3);
    printf("2 threads against 1: blocks %.2fx, head %.2fx\n", best[0][0] / best[1][0], best[0][1] / best[1][1]);
    return 0;
}
