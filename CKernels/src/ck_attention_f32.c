// Causal multi-head attention over an F32 KV cache, all in f32: q, keys and values are used as
// they are (no rounding to F16), as Hugging Face transformers computes attention for float32
// models. Scores are q.k dots scaled, plus the ALiBi bias; softmax as ck_softmax; the output is
// the probability-weighted sum of values. The AVX2 path (head sizes that are multiples of 8)
// computes four keys' dots per pass and the weighted sum with one FMA chain per 8 dims; the
// scalar path is the plain reference.
#include "ck_internal.h"

#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef struct {
    float *out;
    const float *q;
    int64_t n_tok, pos0;
    // Cache rows in pages of 2^page_shift rows: row j is k_pages[j >> page_shift] + (j & mask) * kv_stride.
    const float *const *k_pages, *const *v_pages;
    int64_t page_shift;
    int64_t kv_first; // cache position of the job's key 0 (a sliding window's start)
    int64_t kv_stride, n_head, n_head_kv, head_dim;
    float scale;
    const float *alibi;
    ck_dot_fn dot;
    float *scores;           // per thread: pos0 + n_tok floats
    int64_t scores_per_thread;
    int simd;
} attention_f32_job;

/// Where the rows of one kv head live: key j is cache row first + j, at
/// pages[row >> shift] + (row & mask) * stride + offset.
typedef struct {
    const float *const *pages;
    int64_t shift, stride, offset, first;
} rows_f32;

static inline const float *row_at(const rows_f32 *r, int64_t j) {
    j += r->first;
    return r->pages[j >> r->shift] + (j & (((int64_t)1 << r->shift) - 1)) * r->stride + r->offset;
}

/// out[d] = Σ_j p[j]·v[j][d], positions in order.
static void weighted_values_ref(const float *p, const rows_f32 *v, int64_t len, int64_t hd, float *out) {
    memset(out, 0, sizeof(float) * (size_t)hd);
    for (int64_t j = 0; j < len; j++) {
        const float *row = row_at(v, j);
        for (int64_t d = 0; d < hd; d++) out[d] += p[j] * row[d];
    }
}

#if defined(__x86_64__)
/// Raw q.k dots for positions [0, len) (head_dim a multiple of 8): four keys per pass, so four
/// independent FMA chains share each load of q.
CK_AVX2 static void raw_scores_avx2(const float *q, const rows_f32 *k, int64_t len, int64_t hd, float *raw) {
    int64_t j = 0;
    for (; j + 4 <= len; j += 4) {
        const float *k0 = row_at(k, j), *k1 = row_at(k, j + 1), *k2 = row_at(k, j + 2), *k3 = row_at(k, j + 3);
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
        const float *kj = row_at(k, j);
        for (int64_t d = 0; d < hd; d += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(kj + d), _mm256_loadu_ps(q + d), a);
        raw[j] = ck__hsum8(a);
    }
}

/// weighted_values_ref vectorised across the head (head_dim a multiple of 8): positions in
/// order, every 8-dim slice of the output its own FMA chain, so the chains overlap.
CK_AVX2 static void weighted_values_avx2(const float *p, const rows_f32 *v, int64_t len, int64_t hd, float *out) {
    memset(out, 0, sizeof(float) * (size_t)hd);
    for (int64_t j = 0; j < len; j++) {
        const __m256 pj = _mm256_set1_ps(p[j]);
        const float *row = row_at(v, j);
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
        const rows_f32 k = { job->k_pages, job->page_shift, job->kv_stride, kvh * hd, job->kv_first };
        const rows_f32 v = { job->v_pages, job->page_shift, job->kv_stride, kvh * hd, job->kv_first };
        float *out = job->out + (t * job->n_head + h) * hd;
#if defined(__x86_64__)
        if (job->simd) {
            raw_scores_avx2(q, &k, len, hd, scores);
            for (int64_t j = 0; j < len; j++) scores[j] = scores[j] * job->scale + slope * (float)(j - (len - 1));
            ck_softmax(scores, len);
            weighted_values_avx2(scores, &v, len, hd, out);
            continue;
        }
#endif
        for (int64_t j = 0; j < len; j++) {
            scores[j] = job->dot(hd, row_at(&k, j), q) * job->scale + slope * (float)(j - (len - 1));
        }
        ck_softmax(scores, len);
        weighted_values_ref(scores, &v, len, hd, out);
    }
}

typedef struct {
    const attention_f32_job *jobs;
    const int64_t *first_task; // prefix sums of the sequences' task counts
} multi_f32_job;

/// Tasks of several sequences in one pool job, each run as a call for its sequence alone would.
static void multi_f32_tasks(void *raw, int64_t begin, int64_t end, int thread_index) {
    const multi_f32_job *m = raw;
    int64_t i = 0;
    for (int64_t index = begin; index < end; index++) {
        while (index >= m->first_task[i + 1]) i++;
        const int64_t local = index - m->first_task[i];
        attention_f32_tasks((void *)&m->jobs[i], local, local + 1, thread_index);
    }
}

void ck_attention_paged_f32(ck_pool *pool, const ck_attention_seq *seqs, int64_t n_seq, int64_t page_rows,
                            int64_t kv_stride, int64_t n_head, int64_t n_head_kv, int64_t head_dim, float scale,
                            const float *alibi_slopes) {
    if (n_seq <= 0 || n_head <= 0 || n_head_kv <= 0 || n_head % n_head_kv != 0) return;
    if (page_rows <= 0 || (page_rows & (page_rows - 1)) != 0) return;
    int64_t shift = 0;
    while (((int64_t)1 << shift) < page_rows) shift++;
    int64_t per_thread = 0;
    for (int64_t i = 0; i < n_seq; i++) {
        const int64_t len = (seqs[i].pos0 - seqs[i].kv_first + seqs[i].n_tok + 15) & ~(int64_t)15;
        if (len > per_thread) per_thread = len;
    }
    const int threads = ck_pool_threads(pool);
    ck__pool_lock_op(pool);
    float *scores = ck__pool_scratch(pool, 1, sizeof(float) * (size_t)(per_thread * threads));
    attention_f32_job *jobs = malloc(sizeof(attention_f32_job) * (size_t)n_seq);
    int64_t *first = malloc(sizeof(int64_t) * (size_t)(n_seq + 1));
    if (scores && jobs && first) {
        first[0] = 0;
        for (int64_t i = 0; i < n_seq; i++) {
            const ck_attention_seq *s = &seqs[i];
            jobs[i] = (attention_f32_job){ s->out, s->q, s->n_tok > 0 ? s->n_tok : 0, s->pos0 - s->kv_first,
                                           (const float *const *)s->k_pages, (const float *const *)s->v_pages, shift,
                                           s->kv_first, kv_stride, n_head, n_head_kv, head_dim, scale, alibi_slopes,
                                           ck__dot_for(CK_F32), scores, per_thread,
                                           ck__use_simd() && head_dim % 8 == 0 };
            first[i + 1] = first[i] + jobs[i].n_tok * n_head;
        }
        multi_f32_job m = { jobs, first };
        ck_pool_run(pool, first[n_seq], 1, multi_f32_tasks, &m);
    }
    free(jobs);
    free(first);
    ck__pool_unlock_op(pool);
}

void ck_attention_f32(ck_pool *pool, float *out, const float *q, int64_t n_tok, int64_t pos0,
                      const float *k, const float *v, int64_t kv_stride,
                      int64_t n_head, int64_t n_head_kv, int64_t head_dim, float scale,
                      const float *alibi_slopes) {
    int64_t rows = 1;
    while (rows < pos0 + n_tok) rows <<= 1;
    const void *k_page = k, *v_page = v;
    const ck_attention_seq seq = { out, q, n_tok, pos0, &k_page, &v_page, 0 };
    ck_attention_paged_f32(pool, &seq, 1, rows, kv_stride, n_head, n_head_kv, head_dim, scale, alibi_slopes);
}
