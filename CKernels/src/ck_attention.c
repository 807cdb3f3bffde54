// Causal multi-head attention over an F16 KV cache, arithmetic as llama.cpp without flash
// attention: q rounded to F16, scores in f32, softmax with a double denominator,
// probabilities rounded to F16 before the weighted sum of values.
//
// The AVX2 path also reproduces llama.cpp's accumulation orders: single-token steps use
// ggml_vec_dot_f16's (q·k over 4 accumulators; p·v into 32 partial sums reduced pairwise),
// batches use tinyBLAS's (one 8-lane accumulator). The scalar path is the plain reference.
#include "ck_internal.h"

#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef struct {
    float *out;
    const float *q;
    int64_t n_tok, pos0;
    const uint16_t *k, *v;
    int64_t kv_stride, n_head, n_head_kv, head_dim;
    float scale;
    const float *alibi;
    uint8_t *scratch;
    size_t scratch_per_thread;
} attention_job;

typedef struct {
    float *scores;   // padded to a multiple of 8
    uint16_t *q16;
    uint16_t *p16;
    float *partial;  // 32 x head_dim partial sums (AVX2 path)
} task_scratch;

static task_scratch scratch_for(const attention_job *job, int thread_index) {
    uint8_t *mine = job->scratch + (size_t)thread_index * job->scratch_per_thread;
    const int64_t padded = (job->pos0 + job->n_tok + 7) & ~(int64_t)7;
    task_scratch s;
    s.partial = (float *)mine;
    s.scores = s.partial + 32 * job->head_dim;
    s.q16 = (uint16_t *)(s.scores + padded);
    s.p16 = s.q16 + job->head_dim;
    return s;
}

static size_t scratch_bytes(int64_t kv_len, int64_t head_dim) {
    const int64_t padded = (kv_len + 7) & ~(int64_t)7;
    size_t bytes = (size_t)(32 * head_dim + padded) * 4 + (size_t)(head_dim + padded) * 2;
    return (bytes + 63) & ~(size_t)63;
}

/// Scores of one query against positions [0, len), scaled, with the ALiBi bias.
static void scores_for(const attention_job *job, ck_dot_fn dot, const uint16_t *q16, int64_t kvh,
                       int64_t len, float slope, float *scores) {
    const int64_t hd = job->head_dim;
    for (int64_t j = 0; j < len; j++) {
        scores[j] = dot(hd, job->k + j * job->kv_stride + kvh * hd, q16) * job->scale + slope * (float)(j - (len - 1));
    }
}

/// scores_for's scaling and bias applied to raw dots already in scores[0, len).
static void scale_scores(const attention_job *job, int64_t len, float slope, float *scores) {
    for (int64_t j = 0; j < len; j++) {
        scores[j] = scores[j] * job->scale + slope * (float)(j - (len - 1));
    }
}

static void attention_tasks_ref(void *raw, int64_t begin, int64_t end, int thread_index) {
    const attention_job *job = raw;
    const int64_t hd = job->head_dim, group = job->n_head / job->n_head_kv;
    task_scratch s = scratch_for(job, thread_index);
    for (int64_t index = begin; index < end; index++) {
        // Longest tasks (latest tokens) first: causal rows grow with t, and handing out the big
        // chunks first keeps both threads busy to the end.
        const int64_t task = job->n_tok * job->n_head - 1 - index;
        const int64_t t = task / job->n_head, h = task % job->n_head, kvh = h / group;
        const int64_t len = job->pos0 + t + 1; // causal: positions 0 ... pos0 + t
        float *out = job->out + (t * job->n_head + h) * hd;
        ck_fp32_to_fp16_row(job->q + (t * job->n_head + h) * hd, s.q16, hd);
        scores_for(job, ck__dot_f16_f16_ref, s.q16, kvh, len, job->alibi ? job->alibi[h] : 0.0f, s.scores);
        ck_softmax(s.scores, len);
        ck_fp32_to_fp16_row(s.scores, s.p16, len);
        memset(out, 0, sizeof(float) * (size_t)hd);
        for (int64_t j = 0; j < len; j++) {
            const float p = ck_fp16_to_fp32(s.p16[j]);
            const uint16_t *v = job->v + j * job->kv_stride + kvh * hd;
            for (int64_t d = 0; d < hd; d++) out[d] += p * ck_fp16_to_fp32(v[d]);
        }
    }
}

#if defined(__x86_64__)
#define CK_AVX2 __attribute__((target("avx2,fma,f16c")))

CK_AVX2 static inline float hsum8_attn(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

/// out[d] = Σ_j p[j]·v[j][d], each d summed in llama.cpp's order. `lanes` is 32 for
/// ggml_vec_dot_f16's four 8-lane accumulators, 8 for tinyBLAS's single one; partial sum
/// (j mod lanes) collects position j, vectorised across d.
CK_AVX2 static void weighted_values(const attention_job *job, const uint16_t *p16, int64_t kvh, int64_t len,
                                    int lanes, float *partial, float *out) {
    const int64_t hd = job->head_dim;
    memset(partial, 0, sizeof(float) * (size_t)(lanes * hd));
    for (int64_t j = 0; j < len; j++) {
        const __m256 p = _mm256_set1_ps(_cvtsh_ss(p16[j]));
        const uint16_t *v = job->v + j * job->kv_stride + kvh * hd;
        float *acc = partial + (j % lanes) * hd;
        for (int64_t d = 0; d < hd; d += 8) {
            const __m256 vv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + d)));
            _mm256_storeu_ps(acc + d, _mm256_fmadd_ps(vv, p, _mm256_loadu_ps(acc + d)));
        }
    }
#define P(lane) _mm256_loadu_ps(partial + (lane) * hd + d)
    for (int64_t d = 0; d < hd; d += 8) {
        __m256 result;
        if (lanes == 32) {
            // Accumulator k lane l is partial 8k + l: ((a0+a2)+(a1+a3)) per lane, then
            // lanes l and l+4, then (q0+q1)+(q2+q3).
            __m256 lane[8];
            for (int l = 0; l < 8; l++) lane[l] = _mm256_add_ps(_mm256_add_ps(P(l), P(16 + l)), _mm256_add_ps(P(8 + l), P(24 + l)));
            __m256 quad[4];
            for (int l = 0; l < 4; l++) quad[l] = _mm256_add_ps(lane[l], lane[l + 4]);
            result = _mm256_add_ps(_mm256_add_ps(quad[0], quad[1]), _mm256_add_ps(quad[2], quad[3]));
        } else {
            // One accumulator: lanes l and l+4, then (s0+s2)+(s1+s3).
            __m256 s[4];
            for (int l = 0; l < 4; l++) s[l] = _mm256_add_ps(P(l + 4), P(l));
            result = _mm256_add_ps(_mm256_add_ps(s[0], s[2]), _mm256_add_ps(s[1], s[3]));
        }
        _mm256_storeu_ps(out + d, result);
    }
#undef P
}

/// Batched steps (tinyBLAS's order, one 8-lane accumulator per key): q widened once, four keys
/// at a time so four independent FMA chains overlap. Raw q.k dots into raw[0, len).
CK_AVX2 static void raw_scores_tiled(const attention_job *job, const uint16_t *q16, int64_t kvh, int64_t len,
                                     float *qf, float *raw) {
    const int64_t hd = job->head_dim;
    for (int64_t i = 0; i < hd; i += 8) _mm256_storeu_ps(qf + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(q16 + i))));
    const uint16_t *k = job->k + kvh * hd;
    const int64_t ks = job->kv_stride;
    int64_t j = 0;
    for (; j + 4 <= len; j += 4) {
        const uint16_t *k0 = k + j * ks, *k1 = k0 + ks, *k2 = k1 + ks, *k3 = k2 + ks;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t i = 0; i < hd; i += 8) {
            const __m256 q = _mm256_loadu_ps(qf + i);
            a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k0 + i))), q, a0);
            a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k1 + i))), q, a1);
            a2 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k2 + i))), q, a2);
            a3 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k3 + i))), q, a3);
        }
        raw[j] = hsum8_attn(a0);
        raw[j + 1] = hsum8_attn(a1);
        raw[j + 2] = hsum8_attn(a2);
        raw[j + 3] = hsum8_attn(a3);
    }
    for (; j < len; j++) raw[j] = ck__dot_f16_f16_avx2_tiled(hd, k + j * ks, q16);
}

/// weighted_values for batches (8 partial sums): the partials of each 8-dim slice live in
/// registers while every position streams past; same sums, same reduction as weighted_values.
CK_AVX2 static void weighted_values_tiled(const attention_job *job, const uint16_t *p16, int64_t kvh, int64_t len,
                                          float *pf, float *out) {
    const int64_t hd = job->head_dim, vs = job->kv_stride;
    ck_fp16_to_fp32_row(p16, pf, len);
    const uint16_t *v = job->v + kvh * hd;
    for (int64_t d = 0; d < hd; d += 8) {
        __m256 P[8];
        for (int l = 0; l < 8; l++) P[l] = _mm256_setzero_ps();
        const uint16_t *vd = v + d;
#define STEP(l) P[l] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vd + (j + l) * vs))), _mm256_broadcast_ss(pf + j + l), P[l])
        int64_t j = 0;
        for (; j + 8 <= len; j += 8) { STEP(0); STEP(1); STEP(2); STEP(3); STEP(4); STEP(5); STEP(6); STEP(7); }
        for (int l = 0; j + l < len; l++) STEP(l);
#undef STEP
        __m256 t[4];
        for (int l = 0; l < 4; l++) t[l] = _mm256_add_ps(P[l + 4], P[l]);
        _mm256_storeu_ps(out + d, _mm256_add_ps(_mm256_add_ps(t[0], t[2]), _mm256_add_ps(t[1], t[3])));
    }
}

CK_AVX2 static void attention_tasks_avx2(void *raw, int64_t begin, int64_t end, int thread_index) {
    const attention_job *job = raw;
    const int64_t hd = job->head_dim, group = job->n_head / job->n_head_kv;
    const int single = job->n_tok == 1;
    ck_dot_fn dot = single ? ck__dot_f16_f16_avx2 : ck__dot_f16_f16_avx2_tiled;
    task_scratch s = scratch_for(job, thread_index);
    for (int64_t index = begin; index < end; index++) {
        // Longest tasks (latest tokens) first: causal rows grow with t, and handing out the big
        // chunks first keeps both threads busy to the end.
        const int64_t task = job->n_tok * job->n_head - 1 - index;
        const int64_t t = task / job->n_head, h = task % job->n_head, kvh = h / group;
        const int64_t len = job->pos0 + t + 1;
        ck_fp32_to_fp16_row(job->q + (t * job->n_head + h) * hd, s.q16, hd);
        if (single) {
            scores_for(job, dot, s.q16, kvh, len, job->alibi ? job->alibi[h] : 0.0f, s.scores);
        } else {
            raw_scores_tiled(job, s.q16, kvh, len, s.partial, s.scores);
            scale_scores(job, len, job->alibi ? job->alibi[h] : 0.0f, s.scores);
        }
        // llama.cpp's row is padded with masked (-inf) positions; pad to whole 8-lane groups
        // so every score goes through the same vector exp.
        const int64_t padded = (len + 7) & ~(int64_t)7;
        for (int64_t j = len; j < padded; j++) s.scores[j] = -INFINITY;
        ck__softmax_avx2(s.scores, padded);
        ck_fp32_to_fp16_row(s.scores, s.p16, len);
        if (single) weighted_values(job, s.p16, kvh, len, 32, s.partial, job->out + (t * job->n_head + h) * hd);
        else weighted_values_tiled(job, s.p16, kvh, len, s.scores, job->out + (t * job->n_head + h) * hd);
    }
}
#endif

void ck_attention(ck_pool *pool, float *out, const float *q, int64_t n_tok, int64_t pos0,
                  const uint16_t *k, const uint16_t *v, int64_t kv_stride,
                  int64_t n_head, int64_t n_head_kv, int64_t head_dim, float scale,
                  const float *alibi_slopes) {
    if (n_tok <= 0 || n_head <= 0 || n_head_kv <= 0 || n_head % n_head_kv != 0) return;
    const size_t per_thread = scratch_bytes(pos0 + n_tok, head_dim);
    const int threads = ck_pool_threads(pool);
    ck__pool_lock_op(pool);
    uint8_t *scratch = ck__pool_scratch(pool, 1, per_thread * (size_t)threads);
    if (scratch) {
        attention_job job = { out, q, n_tok, pos0, k, v, kv_stride, n_head, n_head_kv, head_dim, scale,
                              alibi_slopes, scratch, per_thread };
        ck_range_fn tasks = attention_tasks_ref;
#if defined(__x86_64__)
        if (ck__use_simd() && head_dim % 8 == 0) tasks = attention_tasks_avx2;
#endif
        ck_pool_run(pool, n_tok * n_head, 1, tasks, &job);
    }
    ck__pool_unlock_op(pool);
}
