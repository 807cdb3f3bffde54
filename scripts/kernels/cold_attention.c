// Attention of 16 single-token sequences (the default model's 9 heads, 3 kv heads of 64, an F16
// cache in pages of 16 positions) on a warm cache against a cold one (see cold_attention.sh):
// warm, the same layer's cache every call; cold, 30 layers' caches with 2.2 MB of other data read
// between two layers, as a decode step's weights pass through the caches between two attentions.
#include "kernel_bench.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SEQS = 16, HEADS = 9, KV_HEADS = 3, HEAD_DIM = 64, PAGE = 16, LAYERS = 30 };

int main(int argc, char **argv) {
    const int64_t len = argc > 1 ? atoi(argv[1]) : 80, kv = KV_HEADS * HEAD_DIM, pages = (len + PAGE - 1) / PAGE;
    const size_t stream_bytes = 2200000;
    srand(1);
    float *q = malloc(sizeof(float) * SEQS * HEADS * HEAD_DIM), *out = malloc(sizeof(float) * SEQS * HEADS * HEAD_DIM);
    for (int64_t i = 0; i < SEQS * HEADS * HEAD_DIM; i++) q[i] = rand() / (float)RAND_MAX - 0.5f;
    static ck_attention_seq seqs[LAYERS][SEQS];
    for (int l = 0; l < LAYERS; l++)
        for (int s = 0; s < SEQS; s++) {
            const void **k_pages = malloc(sizeof(void *) * pages), **v_pages = malloc(sizeof(void *) * pages);
            for (int64_t p = 0; p < pages; p++) {
                uint16_t *k = malloc(2 * PAGE * kv), *v = malloc(2 * PAGE * kv);
                for (int64_t i = 0; i < PAGE * kv; i++) {
                    k[i] = ck_fp32_to_fp16(rand() / (float)RAND_MAX - 0.5f);
                    v[i] = ck_fp32_to_fp16(rand() / (float)RAND_MAX - 0.5f);
                }
                k_pages[p] = k, v_pages[p] = v;
            }
            seqs[l][s] = (ck_attention_seq){ out + s * HEADS * HEAD_DIM, q + s * HEADS * HEAD_DIM, 1, len - 1, k_pages, v_pages, 0 };
        }
    uint8_t *stream = malloc(stream_bytes * LAYERS);
    memset(stream, 1, stream_bytes * LAYERS);
    volatile uint64_t sink = 0;
    for (int threads = 1; threads <= 2; threads++) {
        ck_pool *pool = ck_pool_create(threads);
        double warm = 1e9, cold = 1e9;
        for (int rep = 0; rep < 10; rep++) {
            double t0 = bench_now();
            for (int l = 0; l < LAYERS; l++) ck_attention_paged(pool, seqs[0], SEQS, PAGE, kv, HEADS, KV_HEADS, HEAD_DIM, 0.125f, NULL);
            const double w = bench_now() - t0;
            double c = 0;
            for (int l = 0; l < LAYERS; l++) {
                const uint64_t *words = (const uint64_t *)(stream + stream_bytes * l);
                uint64_t acc = 0;
                for (size_t i = 0; i < stream_bytes / 8; i += 8) acc += words[i]; // one word per line
                sink += acc;
                t0 = bench_now();
                ck_attention_paged(pool, seqs[l], SEQS, PAGE, kv, HEADS, KV_HEADS, HEAD_DIM, 0.125f, NULL);
                c += bench_now() - t0;
            }
            if (w < warm) warm = w;
            if (c < cold) cold = c;
        }
        printf("context %lld, %d thread%s: 30 layers' attention of 16 sequences, warm %.2f ms, cold %.2f ms (%.2fx)\n",
               (long long)len, threads, threads > 1 ? "s" : " ", warm * 1e3, cold * 1e3, cold / warm);
        ck_pool_destroy(pool);
    }
    return 0;
}
