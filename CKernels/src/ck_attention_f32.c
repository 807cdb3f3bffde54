// Causal multi-head attention over an F32 KV cache, all in f32: q, keys and values are used as
// they are (no rounding to F16), as Hugging Face transformers computes attention for float32
// models. Scores are q.k dots scaled, plus the ALiBi bias; softmax as ck_softmax; the output is
// the probability-weighted sum of values. The AVX2 path (head sizes that are multiples of 8)
// computes four keys' dots per pass and the weighted sum with one FMA chain per 8 dims; the
// scalar path is the plain reference.
#include "ck_internal.h"

#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef struct {
    float *out;
    const float *q;
    int64_t n_tok, pos0;
    const float *k, *v;
    int64_t kv_stride, n_head, n_head_kv, head_dim;
    float scale;
    const float *alibi;
    ck_dot_fn dot;
    float *scores;           // per thread: pos0 + n_tok floats
    int64_t scores_per_thread;
    int simd;
} attention_f32_job;

/// out[d] = Σ_j p[j]·v[j][d], positions in order.
static void weighted_values_ref(const float *p, const float *v, int64_t stride, int64_t len, int64_t hd, float *out) {
    memset(out, 0, sizeof(float) * (size_t)hd);
    for (int64_t j = 0; j < len; j++) {
        for (int64_t d = 0; d < hd; d++) out[d] += p[j] * v[j * stride + d];
    }
}

#if defined(__x86_64__)
/// Raw q.k dots for positions [0, len) (head_dim a multiple of 8): four keys per pass, so four
/// independent FMA chains share each load of q.
CK_AVX2 static void raw_scores_avx2(const float *q, const float *k, int64_t stride, int64_t len, int64_t hd, float *raw) {
    int64_t j = 0;
    for (; j + 4 <= len; j += 4) {
        const float *k0 = k + j * stride, *k1 = k0 + stride, *k2 = k1 + stride, *k3 = k2 + stride;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t d = 0; d < hd; d += 8) {
            const __m256 x = _mm256_loadu_ps(q + d);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(k0 + d), x, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(k1 + d), x, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(k2 + d), x, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(k3 + d), x, a3);
        }
        raw[j] = ck__hsum8(a0);
        raw[j + 1] = ck__hsum8(a1);
        raw[j + 2] = ck__hsum8(a2);
        raw[j + 3] = ck__hsum8(a3);
    }
    for (; j < len; j++) {
        __m256 a = _mm256_setzero_ps();
        for (int64_t d = 0; d < hd; d += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(k + j * stride + d), _mm256_loadu_ps(q + d), a);
        raw[j] = ck__hsum8(a);
    }
}

/// weighted_values_ref vectorised across the head (head_dim a multiple of 8): positions in
/// order, every 8-dim slice of the output its own FMA chain, so the chains overlap.
CK_AVX2 static void weighted_values_avx2(const float *p, const float *v, int64_t stride, int64_t len, int64_t hd, float *out) {
    memset(out, 0, sizeof(float) * (size_t)hd);
    for (int64_t j = 0; j < len; j++) {
        const __m256 pj = _mm256_set1_ps(p[j]);
        const float *row = v + j * stride;
        for (int64_t d = 0; d < hd; d += 8) {
            _mm256_storeu_ps(out + d, _mm256_fmadd_ps(pj, _mm256_loadu_ps(row + d), _mm256_loadu_ps(out + d)));
        }
    }
}
#endif

static void attention_f32_tasks(void *raw, int64_t begin, int64_t end, int thread_index) {
    const attention_f32_job *job = raw;
    const int64_t hd = job->head_dim, group = job->n_head / job->n_head_kv;
    float *scores = job->scores + thread_index * job->scores_per_thread;
    for (int64_t index = begin; index < end; index++) {
        // Longest tasks (latest tokens) first, as in ck_attention.
        const int64_t task = job->n_tok * job->n_head - 1 - index;
        const int64_t t = task / job->n_head, h = task % job->n_head, kvh = h / group;
        const int64_t len = job->pos0 + t + 1;
        const float *q = job->q + (t * job->n_head + h) * hd;
        const float slope = job->alibi ? job->alibi[h] : 0.0f;
        const float *k = job->k + kvh * hd, *v = job->v + kvh * hd;
        float *out = job->out + (t * job->n_head + h) * hd;
#if defined(__x86_64__)
        if (job->simd) {
            raw_scores_avx2(q, k, job->kv_stride, len, hd, scores);
            for (int64_t j = 0; j < len; j++) scores[j] = scores[j] * job->scale + slope * (float)(j - (len - 1));
            ck_softmax(scores, len);
            weighted_values_avx2(scores, v, job->kv_stride, len, hd, out);
            continue;
        }
#endif
        for (int64_t j = 0; j < len; j++) {
            scores[j] = job->dot(hd, k + j * job->kv_stride, q) * job->scale + slope * (float)(j - (len - 1));
        }
        ck_softmax(scores, len);
        weighted_values_ref(scores, v, job->kv_stride, len, hd, out);
    }
}

void ck_attention_f32(ck_pool *pool, float *out, const float *q, int64_t n_tok, int64_t pos0,
                      const float *k, const float *v, int64_t kv_stride,
                      int64_t n_head, int64_t n_head_kv, int64_t head_dim, float scale,
                      const float *alibi_slopes) {
    if (n_tok <= 0 || n_head <= 0 || n_head_kv <= 0 || n_head % n_head_kv != 0) return;
    const int64_t per_thread = (pos0 + n_tok + 15) & ~(int64_t)15;
    const int threads = ck_pool_threads(pool);
    ck__pool_lock_op(pool);
    float *scores = ck__pool_scratch(pool, 1, sizeof(float) * (size_t)(per_thread * threads));
    if (scores) {
        attention_f32_job job = { out, q, n_tok, pos0, k, v, kv_stride, n_head, n_head_kv, head_dim, scale,
                                  alibi_slopes, ck__dot_for(CK_F32), scores, per_thread,
                                  ck__use_simd() && head_dim % 8 == 0 };
        ck_pool_run(pool, n_tok * n_head, 1, attention_f32_tasks, &job);
    }
    ck__pool_unlock_op(pool);
}
