// The packed Q4_1 and Q8_0 batch tiles for AVX-512 VNNI against the AVX2 tiles (see
// vnni_tiles.sh): one 1536 x 576 product of 16 tokens on one thread, both kernels in one
// process (ck_set_avx2_only switches), after checking their outputs are bit-identical at 1-16 tokens.
#include "kernel_bench.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int measure(int type, const char *name) {
    const int64_t rows = 1536, cols = 576, tokens = 16;
    srand(1);
    ck_packed *p = random_packed_matrix(type, rows, cols);
    float *x = malloc(sizeof(float) * tokens * cols);
    float *y = malloc(sizeof(float) * tokens * rows), *y2 = malloc(sizeof(float) * tokens * rows);
    for (int64_t i = 0; i < tokens * cols; i++) x[i] = 3 * (rand() / (float)RAND_MAX - 0.5f);
    ck_pool *pool = ck_pool_create(1);
    for (int64_t n = 1; n <= tokens; n++) {
        ck_set_avx2_only(0);
        ck_matmul_packed(pool, p, x, n, y);
        ck_set_avx2_only(1);
        ck_matmul_packed(pool, p, x, n, y2);
        if (memcmp(y, y2, sizeof(float) * (size_t)(n * rows)) != 0) {
            printf("%s: the VNNI and AVX2 tiles differ at %lld tokens\n", name, (long long)n);
            return 1;
        }
    }
    double ns[2];
    for (int avx2 = 0; avx2 < 2; avx2++) {
        ck_set_avx2_only(avx2);
        ns[avx2] = best_matmul_seconds(pool, p, x, tokens, y) * 1e9 / (double)(rows * tokens * (cols / 32));
    }
    ck_set_avx2_only(0);
    printf("%s, 1536 x 576 x 16 tokens, one thread: VNNI %.3f ns, AVX2 %.3f ns per (row, token, block): %.2fx\n", name, ns[0],
           ns[1], ns[1] / ns[0]);
    ck_pool_destroy(pool);
    ck_packed_free(p);
    free(x), free(y), free(y2);
    return 0;
}

int main(void) {
    if (!ck_cpu_has_avx512_vnni()) {
        printf("this CPU has no AVX-512 VNNI: only the AVX2 tiles run here\n");
        return 0;
    }
    return measure(CK_Q4_1, "Q4_1") || measure(CK_Q8_0, "Q8_0");
}
