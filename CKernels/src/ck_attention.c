// Causal multi-head attention over an F16 KV cache, arithmetic as llama.cpp without flash
// attention: q rounded to F16, scores in f32, softmax with a double denominator,
// probabilities rounded to F16 before the weighted sum of values.
#include "ck_internal.h"

#include <math.h>

typedef struct {
    float *out;
    const float *q;
    int64_t n_tok, pos0;
    const uint16_t *k, *v;
    int64_t kv_stride, n_head, n_head_kv, head_dim;
    float scale;
    const float *alibi;
    uint8_t *scratch;     // per thread: scores, q16, p16
    size_t scratch_per_thread;
    ck_dot_fn dot_f16;
} attention_job;

static void attention_tasks(void *raw, int64_t begin, int64_t end, int thread_index) {
    const attention_job *job = raw;
    const int64_t hd = job->head_dim;
    const int64_t group = job->n_head / job->n_head_kv;
    const int64_t kv_len_max = job->pos0 + job->n_tok;
    uint8_t *mine = job->scratch + (size_t)thread_index * job->scratch_per_thread;
    float *scores = (float *)mine;
    uint16_t *q16 = (uint16_t *)(scores + kv_len_max);
    uint16_t *p16 = q16 + hd;

    for (int64_t task = begin; task < end; task++) {
        const int64_t t = task / job->n_head, h = task % job->n_head;
        const int64_t kvh = h / group;
        const int64_t len = job->pos0 + t + 1; // causal: positions 0 ... pos0 + t
        const float *q = job->q + t * job->n_head * hd + h * hd;
        float *out = job->out + t * job->n_head * hd + h * hd;

        ck_fp32_to_fp16_row(q, q16, hd);
        const float slope = job->alibi ? job->alibi[h] : 0.0f;
        for (int64_t j = 0; j < len; j++) {
            const uint16_t *k = job->k + j * job->kv_stride + kvh * hd;
            scores[j] = job->dot_f16(hd, k, q16) * job->scale + slope * (float)(j - (len - 1));
        }
        ck_softmax(scores, len);
        ck_fp32_to_fp16_row(scores, p16, len);
        for (int64_t d = 0; d < hd; d++) out[d] = 0.0f;
        for (int64_t j = 0; j < len; j++) {
            const float p = ck_fp16_to_fp32(p16[j]);
            const uint16_t *v = job->v + j * job->kv_stride + kvh * hd;
            for (int64_t d = 0; d < hd; d++) out[d] += p * ck_fp16_to_fp32(v[d]);
        }
    }
}

void ck_attention(ck_pool *pool, float *out, const float *q, int64_t n_tok, int64_t pos0,
                  const uint16_t *k, const uint16_t *v, int64_t kv_stride,
                  int64_t n_head, int64_t n_head_kv, int64_t head_dim, float scale,
                  const float *alibi_slopes) {
    if (n_tok <= 0 || n_head <= 0 || n_head_kv <= 0 || n_head % n_head_kv != 0) return;
    const int64_t kv_len_max = pos0 + n_tok;
    // Scores (f32) plus q and probabilities in f16, 64-byte aligned per thread.
    size_t per_thread = (size_t)kv_len_max * 4 + (size_t)head_dim * 2 + (size_t)kv_len_max * 2;
    per_thread = (per_thread + 63) & ~(size_t)63;
    const int threads = ck_pool_threads(pool);
    ck__pool_lock_op(pool);
    uint8_t *scratch = ck__pool_scratch(pool, 1, per_thread * (size_t)threads);
    if (scratch) {
        attention_job job = { out, q, n_tok, pos0, k, v, kv_stride, n_head, n_head_kv, head_dim, scale,
                              alibi_slopes, scratch, per_thread, ck__dot_for(CK_F16) };
        ck_pool_run(pool, n_tok * n_head, 1, attention_tasks, &job);
    }
    ck__pool_unlock_op(pool);
}
