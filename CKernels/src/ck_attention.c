// Causal multi-head attention over an F16 KV cache, arithmetic as llama.cpp without flash
// attention: q rounded to F16, scores in f32, softmax with a double denominator,
// probabilities rounded to F16 before the weighted sum of values.
//
// The AVX2 path also reproduces llama.cpp's accumulation orders: single-token steps use
// ggml_vec_dot_f16's (q·k over 4 accumulators; p·v into 32 partial sums reduced pairwise),
// batches use tinyBLAS's (one 8-lane accumulator). The scalar path is the plain reference.
#include "ck_internal.h"

#include <math.h>
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
    const uint16_t *const *k_pages, *const *v_pages;
    int64_t page_shift;
    int64_t kv_first; // cache position of the job's key 0 (a sliding window's start)
    int64_t kv_stride, n_head, n_head_kv, head_dim;
    float scale;
    const float *alibi;
    uint8_t *scratch;
    size_t scratch_per_thread;
    // Batches (AVX2): the cache positions [0, kv_len) widened to f32 once per call, so the
    // products read them without converting per query: kf and vf[kv head][position][dim].
    float *kf, *vf;
    int64_t kv_len;
} attention_job;

typedef struct {
    float *scores;   // padded to a multiple of 8; batches: one row per head of a chunk (up to 3)
    uint16_t *q16;
    uint16_t *p16;
    float *partial;  // 32 x head_dim: partial sums (AVX2); batches: 8 rows per head of a chunk, then q
} task_scratch;

/// The job's key j: cache row kv_first + j of a paged cache.
static inline const uint16_t *kv_row(const attention_job *job, const uint16_t *const *pages, int64_t j) {
    j += job->kv_first;
    return pages[j >> job->page_shift] + (j & (((int64_t)1 << job->page_shift) - 1)) * job->kv_stride;
}

/// Heads of a kv group that batches compute together (they share each key and value row read).
#define CK_HEAD_CHUNK 3

static int64_t score_rows(int64_t group) { return group < CK_HEAD_CHUNK ? group : CK_HEAD_CHUNK; }

static task_scratch scratch_for(const attention_job *job, int thread_index) {
    uint8_t *mine = job->scratch + (size_t)thread_index * job->scratch_per_thread;
    const int64_t padded = (job->pos0 + job->n_tok + 7) & ~(int64_t)7;
    task_scratch s;
    s.partial = (float *)mine;
    s.scores = s.partial + 32 * job->head_dim;
    s.q16 = (uint16_t *)(s.scores + score_rows(job->n_head / job->n_head_kv) * padded);
    s.p16 = s.q16 + job->head_dim;
    return s;
}

static size_t scratch_bytes(int64_t kv_len, int64_t head_dim, int64_t group) {
    const int64_t padded = (kv_len + 7) & ~(int64_t)7;
    size_t bytes = (size_t)(32 * head_dim + score_rows(group) * padded) * 4 + (size_t)(head_dim + padded) * 2;
    return ck__round_up(bytes, 64);
}

/// Scores of one query against positions [0, len), scaled, with the ALiBi bias.
/// `q` is in the form `dot` takes as its activations (f16, or f16 values widened to f32).
static void scores_for(const attention_job *job, ck_dot_fn dot, const void *q, int64_t kvh,
                       int64_t len, float slope, float *scores) {
    const int64_t hd = job->head_dim;
    for (int64_t j = 0; j < len; j++) {
        scores[j] = dot(hd, kv_row(job, job->k_pages, j) + kvh * hd, q) * job->scale + slope * (float)(j - (len - 1));
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
            const uint16_t *v = kv_row(job, job->v_pages, j) + kvh * hd;
            for (int64_t d = 0; d < hd; d++) out[d] += p * ck_fp16_to_fp32(v[d]);
        }
    }
}

#if defined(__x86_64__)

/// The 32 partial sums of weighted values (partial[l][d]) into out[d] in ggml_vec_dot_f16's
/// order: accumulator k lane l is partial 8k + l: ((a0+a2)+(a1+a3)) per lane, then lanes l
/// and l+4, then (q0+q1)+(q2+q3).
CK_AVX2 static void reduce_partials_32(const float *partial, int64_t hd, float *out) {
#define P(lane) _mm256_loadu_ps(partial + (lane) * hd + d)
    for (int64_t d = 0; d < hd; d += 8) {
        __m256 lane[8];
        for (int l = 0; l < 8; l++) lane[l] = _mm256_add_ps(_mm256_add_ps(P(l), P(16 + l)), _mm256_add_ps(P(8 + l), P(24 + l)));
        __m256 quad[4];
        for (int l = 0; l < 4; l++) quad[l] = _mm256_add_ps(lane[l], lane[l + 4]);
        _mm256_storeu_ps(out + d, _mm256_add_ps(_mm256_add_ps(quad[0], quad[1]), _mm256_add_ps(quad[2], quad[3])));
    }
#undef P
}

/// Batched steps (tinyBLAS's order, one 8-lane accumulator per key): raw q.k dots into
/// raw[0, len), eight keys at a time (eight independent FMA chains) from the widened keys.
CK_AVX2 static void raw_scores_batch(const attention_job *job, const float *qf, int64_t kvh, int64_t len, float *raw) {
    const int64_t hd = job->head_dim;
    const float *k = job->kf + kvh * job->kv_len * hd;
    for (int64_t j = 0; j < len; j += 8) {
        // Keys past len repeat key j (their sums are not used).
        const float *kj[8];
        for (int l = 0; l < 8; l++) kj[l] = k + (j + l < len ? j + l : j) * hd;
        __m256 acc[8];
        for (int l = 0; l < 8; l++) acc[l] = _mm256_setzero_ps();
        for (int64_t i = 0; i < hd; i += 8) {
            const __m256 q = _mm256_loadu_ps(qf + i);
            for (int l = 0; l < 8; l++) acc[l] = _mm256_fmadd_ps(_mm256_loadu_ps(kj[l] + i), q, acc[l]);
        }
        _mm256_storeu_ps(raw + j, ck__hsum8x8(acc)); // scores has room up to len rounded up to 8
    }
}

/// raw_scores_batch for two or three heads of a kv group (q widened in qf, head_dim apart;
/// rows of raw `stride` apart): four keys at a time, each key slice loaded once for the heads
/// (12 accumulators, three q slices and one key slice: all 16 registers).
CK_AVX2 static void raw_scores_group(const attention_job *job, const float *qf, int64_t nh, int64_t kvh, int64_t len,
                                     float *raw, size_t stride) {
    const int64_t hd = job->head_dim;
    const float *k = job->kf + kvh * job->kv_len * hd;
    const float *qa = qf, *qb = qf + hd, *qc = nh > 2 ? qf + 2 * hd : qb; // a missing third head repeats the second
    for (int64_t j = 0; j < len; j += 4) {
        // Keys past len repeat key j (their sums are not used).
        const float *k0 = k + j * hd, *k1 = j + 1 < len ? k0 + hd : k0, *k2 = j + 2 < len ? k0 + 2 * hd : k0;
        const float *k3 = j + 3 < len ? k0 + 3 * hd : k0;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        __m256 c0 = a0, c1 = a0, c2 = a0, c3 = a0;
        for (int64_t i = 0; i < hd; i += 8) {
            const __m256 ya = _mm256_loadu_ps(qa + i), yb = _mm256_loadu_ps(qb + i), yc = _mm256_loadu_ps(qc + i);
            __m256 x = _mm256_loadu_ps(k0 + i);
            a0 = _mm256_fmadd_ps(x, ya, a0); b0 = _mm256_fmadd_ps(x, yb, b0); c0 = _mm256_fmadd_ps(x, yc, c0);
            x = _mm256_loadu_ps(k1 + i);
            a1 = _mm256_fmadd_ps(x, ya, a1); b1 = _mm256_fmadd_ps(x, yb, b1); c1 = _mm256_fmadd_ps(x, yc, c1);
            x = _mm256_loadu_ps(k2 + i);
            a2 = _mm256_fmadd_ps(x, ya, a2); b2 = _mm256_fmadd_ps(x, yb, b2); c2 = _mm256_fmadd_ps(x, yc, c2);
            x = _mm256_loadu_ps(k3 + i);
            a3 = _mm256_fmadd_ps(x, ya, a3); b3 = _mm256_fmadd_ps(x, yb, b3); c3 = _mm256_fmadd_ps(x, yc, c3);
        }
        // The score rows have room up to len rounded up to 8.
        _mm_storeu_ps(raw + j, ck__hsum8x4(a0, a1, a2, a3));
        _mm_storeu_ps(raw + stride + j, ck__hsum8x4(b0, b1, b2, b3));
        if (nh > 2) _mm_storeu_ps(raw + 2 * stride + j, ck__hsum8x4(c0, c1, c2, c3));
    }
}

/// Values weighted by p (f32) for batches: per 8-dim slice, 8 partial sums (position j goes to
/// partial j mod 8), reduced as tinyBLAS's hsum: (s0+s2)+(s1+s3) with s_l = P_{l+4}+P_l.
/// Up to three heads of a kv group share the value rows: for 32 dims at a time, one partial l
/// (positions l, l+8, ...) runs its 12 FMA chains over each row read, into
/// partial[head][8][head_dim]. pf holds one row of probabilities per head (`stride` apart).
CK_AVX2 static void weighted_values_batch(const attention_job *job, const float *pf, size_t stride, int64_t nh,
                                          int64_t kvh, int64_t len, float *partial, float *out) {
    const int64_t hd = job->head_dim;
    const float *v = job->vf + kvh * job->kv_len * hd;
    const float *p0 = pf, *p1 = nh > 1 ? p0 + stride : p0, *p2 = nh > 2 ? p0 + 2 * stride : p0; // missing heads repeat head 0
    for (int l = 0; l < 8; l++) {
        int64_t d = 0;
        for (; d + 32 <= hd; d += 32) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            __m256 c0 = a0, c1 = a0, c2 = a0, c3 = a0;
            for (int64_t j = l; j < len; j += 8) {
                // 12 accumulators, 3 probabilities and one value vector: all 16 registers.
                const float *row = v + j * hd + d;
                const __m256 pa = _mm256_broadcast_ss(p0 + j), pb = _mm256_broadcast_ss(p1 + j), pc = _mm256_broadcast_ss(p2 + j);
                __m256 x = _mm256_loadu_ps(row);
                a0 = _mm256_fmadd_ps(x, pa, a0); b0 = _mm256_fmadd_ps(x, pb, b0); c0 = _mm256_fmadd_ps(x, pc, c0);
                x = _mm256_loadu_ps(row + 8);
                a1 = _mm256_fmadd_ps(x, pa, a1); b1 = _mm256_fmadd_ps(x, pb, b1); c1 = _mm256_fmadd_ps(x, pc, c1);
                x = _mm256_loadu_ps(row + 16);
                a2 = _mm256_fmadd_ps(x, pa, a2); b2 = _mm256_fmadd_ps(x, pb, b2); c2 = _mm256_fmadd_ps(x, pc, c2);
                x = _mm256_loadu_ps(row + 24);
                a3 = _mm256_fmadd_ps(x, pa, a3); b3 = _mm256_fmadd_ps(x, pb, b3); c3 = _mm256_fmadd_ps(x, pc, c3);
            }
            const __m256 acc[3][4] = { { a0, a1, a2, a3 }, { b0, b1, b2, b3 }, { c0, c1, c2, c3 } };
            for (int64_t hh = 0; hh < nh; hh++) {
                for (int sl = 0; sl < 4; sl++) _mm256_storeu_ps(partial + (hh * 8 + l) * hd + d + 8 * sl, acc[hh][sl]);
            }
        }
        for (; d < hd; d += 8) { // head_dim not a multiple of 32: the last slices one by one
            __m256 acc[3] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
            for (int64_t j = l; j < len; j += 8) {
                const __m256 row = _mm256_loadu_ps(v + j * hd + d);
                acc[0] = _mm256_fmadd_ps(row, _mm256_broadcast_ss(p0 + j), acc[0]);
                acc[1] = _mm256_fmadd_ps(row, _mm256_broadcast_ss(p1 + j), acc[1]);
                acc[2] = _mm256_fmadd_ps(row, _mm256_broadcast_ss(p2 + j), acc[2]);
            }
            for (int64_t hh = 0; hh < nh; hh++) _mm256_storeu_ps(partial + (hh * 8 + l) * hd + d, acc[hh]);
        }
    }
    for (int64_t hh = 0; hh < nh; hh++) {
        const float *part = partial + hh * 8 * hd;
        for (int64_t d = 0; d < hd; d += 8) {
            __m256 t[4];
#define P(l) _mm256_loadu_ps(part + (l) * hd + d)
            for (int l = 0; l < 4; l++) t[l] = _mm256_add_ps(P(l + 4), P(l));
#undef P
            _mm256_storeu_ps(out + hh * hd + d, _mm256_add_ps(_mm256_add_ps(t[0], t[2]), _mm256_add_ps(t[1], t[3])));
        }
    }
}

/// ck__dot_f16_f32_avx2 of q (widened, head_dim a multiple of 32) against keys [j, j + 8) of kv
/// head kvh: each key's four accumulators summed ((a0+a2)+(a1+a3)) as one vector, then the
/// eight keys' lanes reduced together, each in that function's order ((l0+l4)+(l1+l5)) +
/// ((l2+l6)+(l3+l7)). Keys at or past len repeat key j (their sums are not used).
CK_AVX2 static inline __m256 dots_f16_8keys(const attention_job *job, const float *q, int64_t kvh, int64_t j, int64_t len) {
    const int64_t hd = job->head_dim;
    __m256 total[8];
    for (int l = 0; l < 8; l++) {
        const uint16_t *k = kv_row(job, job->k_pages, j + l < len ? j + l : j) + kvh * hd;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t i = 0; i < hd; i += 32) {
            a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i))), _mm256_loadu_ps(q + i), a0);
            a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i + 8))), _mm256_loadu_ps(q + i + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i + 16))), _mm256_loadu_ps(q + i + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i + 24))), _mm256_loadu_ps(q + i + 24), a3);
        }
        total[l] = _mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3));
    }
    // Lanes l and l+4 of keys (0, 1), (2, 3), ...: [q_a0..q_a3 | q_b0..q_b3].
    __m256 x[4];
    for (int i = 0; i < 4; i++) {
        x[i] = _mm256_add_ps(_mm256_permute2f128_ps(total[2 * i], total[2 * i + 1], 0x20),
                             _mm256_permute2f128_ps(total[2 * i], total[2 * i + 1], 0x31));
    }
    // (q0+q1), (q2+q3) of each key, then their sum: keys in the order 0 2 4 6 1 3 5 7.
    const __m256 z = _mm256_hadd_ps(_mm256_hadd_ps(x[0], x[1]), _mm256_hadd_ps(x[2], x[3]));
    return _mm256_permutevar8x32_ps(z, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/// out[d] = Σ_j p[j]·v[j][d] in ggml_vec_dot_f16's order (head_dim a multiple of 8): 32
/// partial sums, partial l collecting positions l, l + 32, ... in ascending order from zero
/// (one at a time, in registers), then reduce_partials_32.
CK_AVX2 static void weighted_values_32(const attention_job *job, const uint16_t *p16, int64_t kvh, int64_t len,
                                       float *partial, float *out) {
    const int64_t hd = job->head_dim;
    for (int l = 0; l < 32; l++) {
        float *acc_out = partial + l * hd;
        int64_t d = 0;
        for (; d + 32 <= hd; d += 32) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int64_t j = l; j < len; j += 32) {
                const __m256 p = _mm256_set1_ps(_cvtsh_ss(p16[j]));
                const uint16_t *v = kv_row(job, job->v_pages, j) + kvh * hd + d;
                a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)v)), p, a0);
                a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + 8))), p, a1);
                a2 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + 16))), p, a2);
                a3 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + 24))), p, a3);
            }
            _mm256_storeu_ps(acc_out + d, a0);
            _mm256_storeu_ps(acc_out + d + 8, a1);
            _mm256_storeu_ps(acc_out + d + 16, a2);
            _mm256_storeu_ps(acc_out + d + 24, a3);
        }
        for (; d < hd; d += 8) {
            __m256 a = _mm256_setzero_ps();
            for (int64_t j = l; j < len; j += 32) {
                const uint16_t *v = kv_row(job, job->v_pages, j) + kvh * hd + d;
                a = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)v)), _mm256_set1_ps(_cvtsh_ss(p16[j])), a);
            }
            _mm256_storeu_ps(acc_out + d, a);
        }
    }
    reduce_partials_32(partial, hd, out);
}

/// Asks for kv head kvh's part of cache row j (head_dim halfs) into L1, or (_l2) into L2.
static inline void prefetch_head_l1(const attention_job *job, const uint16_t *const *pages, int64_t j, int64_t kvh) {
    const char *row = (const char *)(kv_row(job, pages, j) + kvh * job->head_dim);
    for (int64_t o = 0; o < job->head_dim * 2; o += 64) _mm_prefetch(row + o, _MM_HINT_T0);
}
static inline void prefetch_head_l2(const attention_job *job, const uint16_t *const *pages, int64_t j, int64_t kvh) {
    const char *row = (const char *)(kv_row(job, pages, j) + kvh * job->head_dim);
    for (int64_t o = 0; o < job->head_dim * 2; o += 64) _mm_prefetch(row + o, _MM_HINT_T1);
}

/// Software prefetches for the keys [j, j + 8) of kv head kvh being scored: their value rows
/// (read next by weighted_values_32, whose stride-32 walk over the positions defeats the
/// hardware prefetchers) and the key rows 16 positions ahead. A decode step's stream of weights
/// has pushed the cache out of every cache level, so the first head of a group would otherwise
/// wait on memory for each row (measured in the model: about a fifth less attention time in a
/// 16-sequence step). The group's other heads find the rows in L1 and skip this.
CK_AVX2 static inline void fetch_rows(const attention_job *job, int64_t kvh, int64_t j, int64_t len) {
    for (int64_t l = j; l < j + 8 && l < len; l++) prefetch_head_l1(job, job->v_pages, l, kvh);
    for (int64_t l = j + 16; l < j + 24 && l < len; l++) prefetch_head_l1(job, job->k_pages, l, kvh);
}

/// Token t's query row of head h: ggml_vec_dot_f16's orders on the f16 cache. fetch: the first
/// head of its kv group on this thread (fetch_rows).
CK_AVX2 static void attend_head_avx2(const attention_job *job, task_scratch s, int64_t t, int64_t h, int fetch) {
    const int64_t hd = job->head_dim, group = job->n_head / job->n_head_kv, kvh = h / group;
    const int64_t len = job->pos0 + t + 1;
    ck_fp32_to_fp16_row(job->q + (t * job->n_head + h) * hd, s.q16, hd);
    // ggml_vec_dot_f16 widens both halves per key; q's widening is exact and the same for
    // every key, so it is done once (s.partial is free until the weighted values).
    ck__fp16_to_fp32_row_avx2(s.q16, s.partial, hd);
    const float slope = job->alibi ? job->alibi[h] : 0.0f;
    const int64_t padded = (len + 7) & ~(int64_t)7;
    if (hd % 32 == 0) {
        // Eight keys at a time, then scores_for's scaling and bias (the same expression).
        for (int64_t j = 0; j < len; j += 8) {
            if (fetch) fetch_rows(job, kvh, j, len);
            _mm256_storeu_ps(s.scores + j, dots_f16_8keys(job, s.partial, kvh, j, len));
        }
        for (int64_t j = 0; j < len; j++) s.scores[j] = s.scores[j] * job->scale + slope * (float)(j - (len - 1));
    } else {
        scores_for(job, ck__dot_f16_f32_avx2, s.partial, kvh, len, slope, s.scores);
    }
    // llama.cpp's row is padded with masked (-inf) positions; pad to whole 8-lane groups
    // so every score goes through the same vector exp.
    for (int64_t j = len; j < padded; j++) s.scores[j] = -INFINITY;
    ck__softmax_avx2(s.scores, padded);
    ck_fp32_to_fp16_row(s.scores, s.p16, len);
    float *out = job->out + (t * job->n_head + h) * hd;
    weighted_values_32(job, s.p16, kvh, len, s.partial, out); // the AVX2 path has head_dim % 8 == 0
}

/// Tasks of one (token, head), the longest (latest tokens) first.
CK_AVX2 static void attention_tasks_avx2(void *raw, int64_t begin, int64_t end, int thread_index) {
    const attention_job *job = raw;
    const task_scratch s = scratch_for(job, thread_index);
    for (int64_t index = begin; index < end; index++) {
        const int64_t task = job->n_tok * job->n_head - 1 - index;
        attend_head_avx2(job, s, task / job->n_head, task % job->n_head, 1);
    }
}

/// Group task `index` of a job: its token and kv head, the latest tokens first.
static inline void group_task(const attention_job *job, int64_t index, int64_t *t, int64_t *kvh) {
    const int64_t task = job->n_tok * job->n_head_kv - 1 - index;
    *t = task / job->n_head_kv;
    *kvh = task % job->n_head_kv;
}

/// Tasks of one (token, kv head): the group's heads one after another on one thread, so the
/// rows the first reads (from memory: the step's stream of weights has pushed the cache out)
/// are in this core's caches for the others (the next task's rows are asked for meanwhile:
/// prefetch_group_task).
CK_AVX2 static void attention_groups_avx2(void *raw, int64_t begin, int64_t end, int thread_index) {
    const attention_job *job = raw;
    const int64_t group = job->n_head / job->n_head_kv;
    const task_scratch s = scratch_for(job, thread_index);
    for (int64_t index = begin; index < end; index++) {
        int64_t t, kvh;
        group_task(job, index, &t, &kvh);
        for (int64_t h = (kvh + 1) * group - 1; h >= kvh * group; h--) attend_head_avx2(job, s, t, h, h == (kvh + 1) * group - 1);
    }
}

/// Batches: the same arithmetic as the single-token path with tinyBLAS's orders, on the
/// widened cache. A task is one token and kv head: the heads of the group share the values.
CK_AVX2 static void attention_tasks_batch(void *raw, int64_t begin, int64_t end, int thread_index) {
    const attention_job *job = raw;
    const int64_t hd = job->head_dim, group = job->n_head / job->n_head_kv;
    task_scratch s = scratch_for(job, thread_index);
    float *qf = s.partial + 8 * CK_HEAD_CHUNK * hd; // after the value partial sums of a chunk
    const int64_t padded_max = (job->kv_len + 7) & ~(int64_t)7;
    for (int64_t index = begin; index < end; index++) {
        // One kv head after the other (its widened keys and values stay in L2 while both
        // threads work on it), and within it the longest tasks (latest tokens) first: causal
        // rows grow with t, and handing out the big chunks first keeps both threads busy.
        const int64_t kvh = index / job->n_tok, t = job->n_tok - 1 - index % job->n_tok;
        const int64_t len = job->pos0 + t + 1, padded = (len + 7) & ~(int64_t)7;
        for (int64_t h0 = kvh * group; h0 < (kvh + 1) * group; h0 += CK_HEAD_CHUNK) {
            const int64_t nh = (kvh + 1) * group - h0 < CK_HEAD_CHUNK ? (kvh + 1) * group - h0 : CK_HEAD_CHUNK;
            // q rounded to f16 (as llama.cpp's K·q product sees it), widened.
            for (int64_t hh = 0; hh < nh; hh++) {
                const float *q = job->q + (t * job->n_head + h0 + hh) * hd;
                for (int64_t i = 0; i < hd; i += 8) {
                    _mm256_storeu_ps(qf + hh * hd + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(q + i), _MM_FROUND_TO_NEAREST_INT)));
                }
            }
            if (nh == 1) raw_scores_batch(job, qf, kvh, len, s.scores);
            else raw_scores_group(job, qf, nh, kvh, len, s.scores, (size_t)padded_max);
            for (int64_t hh = 0; hh < nh; hh++) {
                float *scores = s.scores + hh * padded_max;
                // scores_for's scaling and bias (the same multiply and add), eight at a time,
                // then the -inf padding.
                const __m256 scale = _mm256_set1_ps(job->scale), slope = _mm256_set1_ps(job->alibi ? job->alibi[h0 + hh] : 0.0f);
                const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                for (int64_t j = 0; j < padded; j += 8) {
                    const __m256 pos = _mm256_cvtepi32_ps(_mm256_add_epi32(lane, _mm256_set1_epi32((int)(j - (len - 1)))));
                    __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(scores + j), scale), _mm256_mul_ps(slope, pos));
                    if (j + 8 > len) {
                        const __m256i past = _mm256_cmpgt_epi32(_mm256_add_epi32(lane, _mm256_set1_epi32((int)(j - len))), _mm256_set1_epi32(-1));
                        v = _mm256_blendv_ps(v, _mm256_set1_ps(-INFINITY), _mm256_castsi256_ps(past));
                    }
                    _mm256_storeu_ps(scores + j, v);
                }
                ck__softmax_avx2(scores, padded);
                // Probabilities rounded to f16, widened.
                for (int64_t j = 0; j < padded; j += 8) {
                    _mm256_storeu_ps(scores + j, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(scores + j), _MM_FROUND_TO_NEAREST_INT)));
                }
            }
            weighted_values_batch(job, s.scores, (size_t)padded_max, nh, kvh, len, s.partial, job->out + (t * job->n_head + h0) * hd);
        }
    }
}

/// Cache positions [begin, end) widened to f32 into kf and vf (layouts in attention_job).
CK_AVX2 static void widen_cache(void *raw, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    const attention_job *job = raw;
    const int64_t hd = job->head_dim;
    for (int64_t j = begin; j < end; j++) {
        for (int64_t kvh = 0; kvh < job->n_head_kv; kvh++) {
            const uint16_t *k = kv_row(job, job->k_pages, j) + kvh * hd, *v = kv_row(job, job->v_pages, j) + kvh * hd;
            const size_t dst = (size_t)((kvh * job->kv_len + j) * hd);
            for (int64_t d = 0; d < hd; d += 8) {
                _mm256_storeu_ps(job->kf + dst + d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + d))));
                _mm256_storeu_ps(job->vf + dst + d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + d))));
            }
        }
    }
}
#endif

typedef struct {
    const attention_job *jobs;
    const int64_t *first_task; // prefix sums of the sequences' task counts
    int64_t n_seq;
    ck_range_fn tasks;
    // Asks for a task's data while the thread runs the task before it (NULL: nothing).
    void (*prefetch)(const attention_job *job, int64_t task);
} multi_job;

#if defined(__x86_64__)
/// Asks for the key and value rows of group task `index` into L2: about a tenth less attention
/// time in a 16-sequence step of the model, whose cache the weights' stream has pushed out to
/// memory.
static void prefetch_group_task(const attention_job *job, int64_t index) {
    int64_t t, kvh;
    group_task(job, index, &t, &kvh);
    for (int64_t j = 0; j < job->pos0 + t + 1; j++) {
        prefetch_head_l2(job, job->k_pages, j, kvh);
        prefetch_head_l2(job, job->v_pages, j, kvh);
    }
}
#endif

/// Tasks of several sequences in one pool job: task `index` is task index - first_task[i] of
/// sequence i, run exactly as a call for that sequence alone would run it.
static void multi_tasks(void *raw, int64_t begin, int64_t end, int thread_index) {
    const multi_job *m = raw;
    int64_t i = 0;
    for (int64_t index = begin; index < end; index++) {
        while (index >= m->first_task[i + 1]) i++;
        const int64_t local = index - m->first_task[i];
        if (m->prefetch && index + 1 < end) {
            int64_t next = i;
            while (index + 1 >= m->first_task[next + 1]) next++;
            m->prefetch(&m->jobs[next], index + 1 - m->first_task[next]);
        }
        m->tasks((void *)&m->jobs[i], local, local + 1, thread_index);
    }
}

/// Group tasks per thread below which a call's single tokens go head by head (the pool hands
/// tasks out one at a time; fewer would leave a thread idle at the end of the call).
#define CK_GROUP_TASKS_PER_THREAD 4

/// The smallest shift with 2^shift >= rows (one page holding every row).
static int64_t shift_for(int64_t rows) {
    int64_t shift = 0;
    while (((int64_t)1 << shift) < rows) shift++;
    return shift;
}

void ck_attention_paged(ck_pool *pool, const ck_attention_seq *seqs, int64_t n_seq, int64_t page_rows,
                        int64_t kv_stride, int64_t n_head, int64_t n_head_kv, int64_t head_dim, float scale,
                        const float *alibi_slopes) {
    if (n_seq <= 0 || n_head <= 0 || n_head_kv <= 0 || n_head % n_head_kv != 0) return;
    if (page_rows <= 0 || (page_rows & (page_rows - 1)) != 0) return;
    const int64_t shift = shift_for(page_rows);
    size_t per_thread = 0;
    for (int64_t i = 0; i < n_seq; i++) {
        const size_t bytes = scratch_bytes(seqs[i].pos0 - seqs[i].kv_first + seqs[i].n_tok, head_dim, n_head / n_head_kv);
        if (bytes > per_thread) per_thread = bytes;
    }
    const int threads = ck_pool_threads(pool);
    ck__pool_lock_op(pool);
    uint8_t *scratch = ck__pool_scratch(pool, 1, per_thread * (size_t)threads);
    attention_job local[8];
    attention_job *jobs = n_seq <= 8 ? local : malloc(sizeof(attention_job) * (size_t)n_seq);
    int64_t first_local[9];
    int64_t *first = n_seq <= 8 ? first_local : malloc(sizeof(int64_t) * (size_t)(n_seq + 1));
    if (scratch && jobs && first) {
        const int simd =
#if defined(__x86_64__)
            ck__use_simd() && head_dim % 8 == 0;
#else
            0;
#endif
        // Single tokens (and everything on the scalar path) of all sequences: one pool job. With
        // enough of them, a task is a token's kv group (attention_groups_avx2); otherwise one
        // head, so that a lone sequence's few groups still spread over the threads.
        int64_t singles = 0; // only the SIMD path groups, and only single-token sequences
        for (int64_t i = 0; i < n_seq; i++) singles += seqs[i].n_tok == 1;
        const int by_group = simd && singles * n_head_kv >= CK_GROUP_TASKS_PER_THREAD * threads;
        int64_t n_single = 0;
        first[0] = 0;
        for (int64_t i = 0; i < n_seq; i++) {
            const ck_attention_seq *s = &seqs[i];
            if (s->n_tok <= 0 || (simd && s->n_tok > 1)) continue;
            const int64_t pos0 = s->pos0 - s->kv_first;
            jobs[n_single] = (attention_job){ s->out, s->q, s->n_tok, pos0, (const uint16_t *const *)s->k_pages,
                                              (const uint16_t *const *)s->v_pages, shift, s->kv_first, kv_stride, n_head,
                                              n_head_kv, head_dim, scale, alibi_slopes, scratch, per_thread, NULL, NULL,
                                              pos0 + s->n_tok };
            first[n_single + 1] = first[n_single] + s->n_tok * (by_group ? n_head_kv : n_head);
            n_single++;
        }
        if (n_single > 0) {
#if defined(__x86_64__)
            multi_job m = { jobs, first, n_single, by_group ? attention_groups_avx2 : simd ? attention_tasks_avx2 : attention_tasks_ref,
                            by_group ? prefetch_group_task : NULL };
#else
            multi_job m = { jobs, first, n_single, attention_tasks_ref, NULL };
#endif
            ck_pool_run(pool, first[n_single], 1, multi_tasks, &m);
        }
#if defined(__x86_64__)
        // Batches of several tokens: tinyBLAS's orders on the widened cache, one sequence at a time.
        for (int64_t i = 0; simd && i < n_seq; i++) {
            const ck_attention_seq *s = &seqs[i];
            if (s->n_tok <= 1) continue;
            const int64_t pos0 = s->pos0 - s->kv_first;
            attention_job job = { s->out, s->q, s->n_tok, pos0, (const uint16_t *const *)s->k_pages,
                                  (const uint16_t *const *)s->v_pages, shift, s->kv_first, kv_stride, n_head, n_head_kv,
                                  head_dim, scale, alibi_slopes, scratch, per_thread, NULL, NULL, pos0 + s->n_tok };
            const size_t bytes = sizeof(float) * (size_t)(job.kv_len * n_head_kv * head_dim);
            job.kf = ck__pool_scratch(pool, 2, bytes);
            job.vf = ck__pool_scratch(pool, 3, bytes);
            if (job.kf && job.vf) {
                ck_pool_run(pool, job.kv_len, 16, widen_cache, &job);
                ck_pool_run(pool, job.n_tok * n_head_kv, 1, attention_tasks_batch, &job);
            } else {
                ck_pool_run(pool, job.n_tok * n_head, 1, attention_tasks_avx2, &job);
            }
        }
#endif
    }
    if (jobs != local) free(jobs);
    if (first != first_local) free(first);
    ck__pool_unlock_op(pool);
}

void ck_attention(ck_pool *pool, float *out, const float *q, int64_t n_tok, int64_t pos0,
                  const uint16_t *k, const uint16_t *v, int64_t kv_stride,
                  int64_t n_head, int64_t n_head_kv, int64_t head_dim, float scale,
                  const float *alibi_slopes) {
    const void *k_page = k, *v_page = v;
    const ck_attention_seq seq = { out, q, n_tok, pos0, &k_page, &v_page, 0 };
    ck_attention_paged(pool, &seq, 1, (int64_t)1 << shift_for(pos0 + n_tok), kv_stride, n_head, n_head_kv, head_dim,
                       scale, alibi_slopes);
}
