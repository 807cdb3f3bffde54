// Causal multi-head attention over an F32 KV cache, all in f32: q, keys and values are used as
// they are (no rounding to F16), as Hugging Face transformers computes attention for float32
// models. Scores are q.k dots scaled, plus the ALiBi bias; softmax as ck_softmax; the output is
// the probability-weighted sum of values. The AVX2 path vectorises the dots (ck_vec_dot's f32
// kernel) and the weighted sum across the head; the scalar path is the plain reference.
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
#define CK_AVX2 __attribute__((target("avx2,fma,f16c")))
/// weighted_values_ref with each 8-dim slice of the output in a register (same order of
/// positions per dim, fused multiply-adds).
CK_AVX2 static void weighted_values_avx2(const float *p, const float *v, int64_t stride, int64_t len, int64_t hd, float *out) {
    int64_t d = 0;
    for (; d + 8 <= hd; d += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int64_t j = 0; j < len; j++) acc = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(v + j * stride + d), acc);
        _mm256_storeu_ps(out + d, acc);
    }
    for (; d < hd; d++) {
        float acc = 0;
        for (int64_t j = 0; j < len; j++) acc = fmaf(p[j], v[j * stride + d], acc);
        out[d] = acc;
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
        for (int64_t j = 0; j < len; j++) {
            scores[j] = job->dot(hd, job->k + j * job->kv_stride + kvh * hd, q) * job->scale + slope * (float)(j - (len - 1));
        }
        ck_softmax(scores, len);
        float *out = job->out + (t * job->n_head + h) * hd;
        const float *v = job->v + kvh * hd;
#if defined(__x86_64__)
        if (job->simd) {
            weighted_values_avx2(scores, v, job->kv_stride, len, hd, out);
            continue;
        }
#endif
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
                                  alibi_slopes, ck__dot_for(CK_F32), scores, per_thread, ck__use_simd() };
        ck_pool_run(pool, n_tok * n_head, 1, attention_f32_tasks, &job);
    }
    ck__pool_unlock_op(pool);
}
