// Batches (prefill) of Q5_0, Q5_1, IQ4_NL and (unpacked) Q8_0 weights: a panel GEMM in the
// types' own dot order.
//
// llama.cpp sums every output of these types, in a batch as in decode, as its AVX2 vec_dot does
// (ck_q5_0.c, ck_q5_1.c): per 32-weight block, 8 lanes each holding the exact integer dot of 4
// consecutive weights, one FMA per block and lane with d_w * d_a (Q8_0 too: tinyBLAS, its batch
// kernel, accumulates as vec_dot does), the lanes summed as ck__hsum8
// at the end (plus, for Q5_1, the chain of m_w * s_a FMAs). Only the integer dots and the
// scales enter that chain, so it can be formed in any loop order: here each group of 4 rows is
// unpacked once per call into bytes (signed values and their magnitudes, or Q5_1's unsigned
// quants) with float scales, a panel that stays in L1, and then multiplied by the tokens three
// at a time with the 12 accumulators in registers. Results equal the single-row dots bit for
// bit (MatmulTests, KQuantKernelTests); the scalar path keeps the dots. The groups come from
// GGUF rows or from weights packed at load (ck_packed.c: ck__packed_block32). IQ4_NL's order is
// llama.cpp's repacked one instead: per block the exact integer dot of all 32 weights, one FMA
// chain per output (`single_chain`: the 4 rows' sums reduced together, rows in vector lanes).
#include "ck_packed_internal.h"

#include <stdlib.h>
#include <string.h>

#define B32_ROWS 4
#define B32_TOKENS 3

typedef struct {
    int is_unsigned; // Q5_1: quants in [0, 31] multiply the activations directly, plus m * s
    int single_chain; // IQ4_NL: one FMA per block of the whole block's integer dot
    ck_block32_fn unpack;
    const ck_packed *packed; // the weights packed in four-row groups (one part), or NULL: GGUF rows
    size_t w_block_bytes, act_block_bytes;
    int n_parts;
    const uint8_t *w[CK_MATMUL_MAX_PARTS];
    int64_t rows[CK_MATMUL_MAX_PARTS];
    int64_t first_group[CK_MATMUL_MAX_PARTS + 1]; // prefix sums of each part's groups of 4 rows
    float *y[CK_MATMUL_MAX_PARTS];
    size_t w_row_bytes;
    const uint8_t *act;
    size_t act_row_bytes;
    int64_t nb, n_tok;
} block32_job;

/// One group's blocks, block-major: per block the 4 rows' values (and magnitudes), scales, mins.
typedef struct {
    int8_t *q;     // [nb][4][32]
    uint8_t *absq; // [nb][4][32], signed types only
    float *d;      // [nb][4]
    float *m;      // [nb][4]
} block32_panel;

/// Q8_0's block as it is: signed quants and the scale.
static void block32_q8_0(const void *block, int8_t q[CK_QK], float *d, float *m) {
    const ck_block_q8_0 *x = block;
    memcpy(q, x->qs, CK_QK);
    *d = ck_fp16_to_fp32(x->d);
    *m = 0.0f;
}

/// IQ4_NL's block as its table values and scale.
static void block32_iq4_nl(const void *block, int8_t q[CK_QK], float *d, float *m) {
    const ck_block_iq4_nl *x = block;
    for (int j = 0; j < CK_QK / 2; j++) {
        q[j] = ck__iq4nl_table[x->qs[j] & 0x0f];
        q[j + 16] = ck__iq4nl_table[x->qs[j] >> 4];
    }
    *d = ck_fp16_to_fp32(x->d);
    *m = 0.0f;
}

/// Group g (rows w_rows, nr of them) into the panel.
static void unpack_group(const block32_job *job, int64_t g, const uint8_t *w_rows, int nr, block32_panel *p) {
    for (int64_t b = 0; b < job->nb; b++) {
        for (int r = 0; r < B32_ROWS; r++) {
            int8_t *q = p->q + (b * B32_ROWS + r) * 32;
            float *d = p->d + b * B32_ROWS + r, *m = p->m + b * B32_ROWS + r;
            if (job->packed) {
                ck__packed_block32(job->packed, g, b, r, q, d, m);
            } else if (r < nr) {
                job->unpack(w_rows + (size_t)r * job->w_row_bytes + (size_t)b * job->w_block_bytes, q, d, m);
            } else {
                memset(q, 0, 32); // rows past the matrix: zeros, their outputs dropped
                *d = *m = 0.0f;
            }
            if (!job->is_unsigned) {
                uint8_t *a = p->absq + (b * B32_ROWS + r) * 32;
                for (int k = 0; k < 32; k++) a[k] = (uint8_t)(q[k] < 0 ? -q[k] : q[k]);
            }
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

/// Tokens t0 .. t0 + nt - 1 (nt <= 3) against the group's 4 rows; y rows r0 .. r0 + nr - 1.
CK_AVX2 static inline __attribute__((always_inline)) void
tile(const block32_job *job, const block32_panel *p, int nt, int64_t t0, int nr, float *y, int64_t rows, int64_t r0) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[B32_ROWS][B32_TOKENS];
    __m128 mins[B32_TOKENS]; // the 4 rows' m * s chains, one lane per row
    for (int r = 0; r < B32_ROWS; r++)
        for (int t = 0; t < nt; t++) acc[r][t] = _mm256_setzero_ps();
    for (int t = 0; t < nt; t++) mins[t] = _mm_setzero_ps();
    const uint8_t *act[B32_TOKENS];
    for (int t = 0; t < nt; t++) act[t] = job->act + (size_t)(t0 + t) * job->act_row_bytes;
    for (int64_t b = 0; b < job->nb; b++) {
        __m256i a[B32_TOKENS];
        __m256 ad[B32_TOKENS];
        for (int t = 0; t < nt; t++) {
            const uint8_t *blk = act[t] + (size_t)b * job->act_block_bytes;
            // ck_block_q8_0: d, qs; ck_block_q8_1: d, s, qs.
            a[t] = _mm256_loadu_si256((const __m256i *)(blk + job->act_block_bytes - 32));
            ad[t] = _mm256_set1_ps(_cvtsh_ss(*(const uint16_t *)blk));
            if (job->is_unsigned) {
                const __m128 s = _mm_set1_ps(_cvtsh_ss(*(const uint16_t *)(blk + 2)));
                mins[t] = _mm_fmadd_ps(_mm_loadu_ps(p->m + b * B32_ROWS), s, mins[t]);
            }
        }
        for (int r = 0; r < B32_ROWS; r++) {
            const __m256 wd = _mm256_broadcast_ss(p->d + b * B32_ROWS + r);
            const __m256i q = _mm256_loadu_si256((const __m256i *)(p->q + (b * B32_ROWS + r) * 32));
            if (job->is_unsigned) {
                for (int t = 0; t < nt; t++) {
                    const __m256 dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(q, a[t]), ones));
                    acc[r][t] = _mm256_fmadd_ps(dot, _mm256_mul_ps(wd, ad[t]), acc[r][t]);
                }
            } else {
                const __m256i aq = _mm256_loadu_si256((const __m256i *)(p->absq + (b * B32_ROWS + r) * 32));
                for (int t = 0; t < nt; t++) {
                    const __m256i pairs = _mm256_maddubs_epi16(aq, _mm256_sign_epi8(a[t], q));
                    const __m256 dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
                    acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(wd, ad[t]), dot, acc[r][t]);
                }
            }
        }
    }
    for (int t = 0; t < nt; t++) {
        float m[4];
        _mm_storeu_ps(m, mins[t]);
        float *out = y + (t0 + t) * rows + r0;
        for (int r = 0; r < nr; r++) out[r] = job->is_unsigned ? ck__hsum8(acc[r][t]) + m[r] : ck__hsum8(acc[r][t]);
    }
}

/// tile() for the single-chain order: per token one accumulator with the 4 rows in its lanes.
CK_AVX2 static inline __attribute__((always_inline)) void
tile_chain(const block32_job *job, const block32_panel *p, int nt, int64_t t0, int nr, float *y, int64_t rows, int64_t r0) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m128 acc[B32_TOKENS];
    for (int t = 0; t < nt; t++) acc[t] = _mm_setzero_ps();
    const uint8_t *act[B32_TOKENS];
    for (int t = 0; t < nt; t++) act[t] = job->act + (size_t)(t0 + t) * job->act_row_bytes;
    for (int64_t b = 0; b < job->nb; b++) {
        const __m128 wd = _mm_loadu_ps(p->d + b * B32_ROWS);
        for (int t = 0; t < nt; t++) {
            const uint8_t *blk = act[t] + (size_t)b * job->act_block_bytes;
            const __m256i a = _mm256_loadu_si256((const __m256i *)(blk + job->act_block_bytes - 32));
            __m256i lanes[B32_ROWS];
            for (int r = 0; r < B32_ROWS; r++) {
                const __m256i q = _mm256_loadu_si256((const __m256i *)(p->q + (b * B32_ROWS + r) * 32));
                const __m256i aq = _mm256_loadu_si256((const __m256i *)(p->absq + (b * B32_ROWS + r) * 32));
                lanes[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(aq, _mm256_sign_epi8(a, q)), ones);
            }
            const __m128i sums = ck__hsum4_i32(lanes[0], lanes[1], lanes[2], lanes[3]);
            const __m128 ad = _mm_set1_ps(_cvtsh_ss(*(const uint16_t *)blk));
            acc[t] = _mm_fmadd_ps(_mm_cvtepi32_ps(sums), _mm_mul_ps(wd, ad), acc[t]);
        }
    }
    for (int t = 0; t < nt; t++) {
        float out[4];
        _mm_storeu_ps(out, acc[t]);
        memcpy(y + (t0 + t) * rows + r0, out, sizeof(float) * (size_t)nr);
    }
}

CK_AVX2 static void group_tokens(const block32_job *job, const block32_panel *p, int nr, float *y, int64_t rows, int64_t r0) {
    int64_t t = 0;
    if (job->single_chain) {
        for (; t + 3 <= job->n_tok; t += 3) tile_chain(job, p, 3, t, nr, y, rows, r0);
        if (job->n_tok - t == 2) tile_chain(job, p, 2, t, nr, y, rows, r0);
        else if (job->n_tok - t == 1) tile_chain(job, p, 1, t, nr, y, rows, r0);
        return;
    }
    for (; t + 3 <= job->n_tok; t += 3) tile(job, p, 3, t, nr, y, rows, r0);
    if (job->n_tok - t == 2) tile(job, p, 2, t, nr, y, rows, r0);
    else if (job->n_tok - t == 1) tile(job, p, 1, t, nr, y, rows, r0);
}

static void block32_groups(void *raw, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    const block32_job *job = raw;
    const size_t n = (size_t)job->nb * B32_ROWS;
    uint8_t *memory = malloc(n * 32 * 2 + n * sizeof(float) * 2 + 64);
    if (!memory) return;
    block32_panel p = { .q = (int8_t *)memory, .absq = memory + n * 32, .d = (float *)(memory + n * 64),
                        .m = (float *)(memory + n * 64) + n };
    for (int part = 0; part < job->n_parts && begin < end; part++) {
        const int64_t lo = job->first_group[part], hi = job->first_group[part + 1];
        if (begin >= hi) continue;
        const int64_t stop = end < hi ? end : hi, rows = job->rows[part];
        for (int64_t g = begin - lo; g < stop - lo; g++) {
            const int64_t r0 = g * B32_ROWS;
            const int nr = rows - r0 < B32_ROWS ? (int)(rows - r0) : B32_ROWS;
            unpack_group(job, g, job->packed ? NULL : job->w[part] + (size_t)r0 * job->w_row_bytes, nr, &p);
            group_tokens(job, &p, nr, job->y[part], rows, r0);
        }
        begin = stop;
    }
    free(memory);
}
#endif

void ck__matmul_block32_packed(ck_pool *pool, const ck_packed *p, const uint8_t *act, size_t act_row_bytes, int64_t n_tok,
                               float *Y) {
#if defined(__x86_64__)
    block32_job job = { .is_unsigned = p->type == CK_Q5_1, .single_chain = p->type == CK_IQ4_NL, .packed = p, .n_parts = 1,
                        .act = act, .act_row_bytes = act_row_bytes, .nb = p->nb, .n_tok = n_tok };
    job.act_block_bytes = ck_row_size(ck_activation_type(p->type), CK_QK);
    job.rows[0] = p->rows;
    job.y[0] = Y;
    job.first_group[1] = p->groups;
    ck_pool_run(pool, p->groups, 4, block32_groups, &job);
#else
    (void)pool; (void)p; (void)act; (void)act_row_bytes; (void)n_tok; (void)Y;
#endif
}

int ck__matmul_block32(ck_pool *pool, int type, int n_parts, const void *const *W, const int64_t *rows, int64_t cols,
                       const uint8_t *act, size_t act_row_bytes, int64_t n_tok, float *const *Y) {
#if defined(__x86_64__)
    if (!ck__use_simd() || n_tok < 2 || cols % CK_QK != 0) return 0;
    block32_job job = { .n_parts = n_parts, .w_row_bytes = ck_row_size(type, cols), .act = act,
                        .act_row_bytes = act_row_bytes, .nb = cols / CK_QK, .n_tok = n_tok };
    switch (type) {
    case CK_Q5_0: job.unpack = ck__block32_q5_0; job.is_unsigned = 0; break;
    case CK_Q5_1: job.unpack = ck__block32_q5_1; job.is_unsigned = 1; break;
    case CK_Q8_0: job.unpack = block32_q8_0; job.is_unsigned = 0; break;
    case CK_IQ4_NL: job.unpack = block32_iq4_nl; job.single_chain = 1; break;
    default: return 0;
    }
    job.w_block_bytes = ck_row_size(type, CK_QK);
    job.act_block_bytes = ck_row_size(ck_activation_type(type), CK_QK);
    for (int i = 0; i < n_parts; i++) {
        job.w[i] = W[i];
        job.rows[i] = rows[i];
        job.y[i] = Y[i];
        job.first_group[i + 1] = job.first_group[i] + (rows[i] + B32_ROWS - 1) / B32_ROWS;
    }
    ck_pool_run(pool, job.first_group[n_parts], 4, block32_groups, &job);
    return 1;
#else
    (void)pool; (void)type; (void)n_parts; (void)W; (void)rows; (void)cols; (void)act; (void)act_row_bytes;
    (void)n_tok; (void)Y;
    return 0;
#endif
}
