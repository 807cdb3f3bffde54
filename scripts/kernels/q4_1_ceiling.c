// How close the packed Q4_1 tile is to the arithmetic ggml's order needs (see q4_1_ceiling.sh).
// Each (row, token, block) of a Q4_1 x Q8_1 product, to give llama.cpp's bits, costs at least
// maddubs, madd, convert and one FMA into its own accumulator; the second loop runs only those
// four instructions per pair with independent accumulators (register operands, activations from
// L1), the first the real tile on a matrix of the default model's shape.
#include "kernel_bench.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint8_t activations[256] __attribute__((aligned(64)));

#define PAIR(acc, tmp, off)                                                                                                \
    "vpmaddubsw " off "(%1), %%ymm0, %%" tmp "\n\t"                                                                        \
    "vpmaddwd %%ymm1, %%" tmp ", %%" tmp "\n\t"                                                                            \
    "vcvtdq2ps %%" tmp ", %%" tmp "\n\t"                                                                                   \
    "vfmadd231ps %%ymm2, %%" tmp ", %%" acc "\n\t"
#define EIGHT_PAIRS                                                                                                        \
    PAIR("ymm8", "ymm4", "0") PAIR("ymm9", "ymm5", "32") PAIR("ymm10", "ymm6", "64") PAIR("ymm11", "ymm7", "96")          \
    PAIR("ymm12", "ymm4", "128") PAIR("ymm13", "ymm5", "160") PAIR("ymm14", "ymm6", "192") PAIR("ymm15", "ymm7", "224")

__attribute__((target("avx2,fma"))) static double ceiling_ns_per_pair(void) {
    for (int i = 0; i < 256; i++) activations[i] = (uint8_t)(i % 7);
    const long n = 20000000;
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        long k = n;
        const double t0 = bench_now();
        // One asm block: the constants set up and the loop run without the compiler in between.
        __asm__ volatile("vpcmpeqw %%ymm1, %%ymm1, %%ymm1\n\t"
                         "vpabsw %%ymm1, %%ymm1\n\t" // ones (int16)
                         "vpabsb %%ymm1, %%ymm0\n\t" // quants 1, 0
                         "vxorps %%ymm2, %%ymm2, %%ymm2\n\t"
                         "1:\n\t" EIGHT_PAIRS "dec %0\n\t"
                         "jnz 1b\n\t"
                         : "+r"(k)
                         : "r"(activations)
                         : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
                           "xmm12", "xmm13", "xmm14", "xmm15");
        const double dt = (bench_now() - t0) / (n * 8.0);
        if (dt < best) best = dt;
    }
    return best * 1e9;
}

static double tile_ns_per_pair(int64_t rows, int64_t cols, int64_t tokens) {
    ck_set_avx2_only(1); // the AVX2 tile, whose floor this is (AVX-512 VNNI: scripts/kernels/vnni_tiles.sh)
    srand(1);
    ck_packed *p = random_packed_matrix(CK_Q4_1, rows, cols);
    float *x = malloc(sizeof(float) * tokens * cols), *y = malloc(sizeof(float) * tokens * rows);
    for (int64_t i = 0; i < tokens * cols; i++) x[i] = 3 * (rand() / (float)RAND_MAX - 0.5f);
    ck_pool *pool = ck_pool_create(1);
    ck_matmul_packed(pool, p, x, tokens, y);
    const double best = best_matmul_seconds(pool, p, x, tokens, y);
    ck_packed_free(p);
    free(x), free(y);
    return best * 1e9 / (double)(rows * tokens * (cols / 32));
}

int main(void) {
    const double ceiling = ceiling_ns_per_pair();
    const double tile = tile_ns_per_pair(1536, 576, 16);
    printf("ggml-order floor (maddubs, madd, convert, FMA per pair): %.3f ns per (row, token, block)\n", ceiling);
    printf("packed Q4_1 tile, 1536 x 576 x 16 tokens, one thread:    %.3f ns per (row, token, block)\n", tile);
    printf("tile / floor: %.2fx\n", tile / ceiling);
    return 0;
}
