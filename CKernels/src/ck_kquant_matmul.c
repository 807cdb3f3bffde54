// K-quant matrix products (Q2_K ... Q6_K, IQ4_XS) in the order llama.cpp's CPU backend sums
// each token of a batch, so prompts give its bits and not only its decode steps'.
//
// What llama.cpp (ggml-cpu, default settings) runs for y = W x with a batch of n tokens, on x86:
// - Q4_K matrices with a multiple of 8 rows (and Q2_K ones on AVX-512 CPUs) are repacked at load
//   into 8-row groups (repack.cpp). Tokens 0 .. n - n % 4 - 1 go through its gemm in groups of 4,
//   the rest (and every single token) through its gemv. Both keep two FMA chains per output,
//   acc += S * (d * d8) and acc_min += M * (dmin * d8), with S = sum sc_j (q . q8)_j and
//   M = sum m_j bsum_j exact integers; the gemv adds one whole super-block per step, the gemm one
//   granule per step (64 weights for Q4_K, 128 for Q2_K); the result is acc - acc_min.
// - Other K-quant matrices, from 8 tokens on, take the tiled kernel (ggml-cpu/tiled): per
//   super-block r = d * S, r = r - dmin * M (fused), acc = acc + r * d8 (fused), blocks in order.
//   Below 8 tokens each row and token is the type's vec_dot (ck__dot_for's kernels).
// Every rule depends only on the token's sequence (its length and the token's place in it), so
// several sequences batched together keep the bits each has alone (ck_matmul_parts_seq).
//
// The integer sums are exact whichever way they are formed: here from unpacked blocks
// (ck_kblock: signed quants, per-16 scales and mins) by u8 x s8 pair products, each block of
// four rows unpacked once per call and reused for every token. The weights come as GGUF rows or
// packed in four-row groups (ck_packed.c: a group's super-block b of its four rows one after
// another), read at the layout's row and block strides. The SIMD lane kernels: ck_kquant_lanes.c.
#include "ck_kquant_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ck__is_kquant(int type) {
    return type == CK_Q2_K || type == CK_Q3_K || type == CK_Q4_K || type == CK_Q5_K || type == CK_Q6_K ||
           type == CK_IQ4_XS;
}

static unpack_fn unpack_for(int type) {
    switch (type) {
    case CK_Q2_K: return ck__unpack_q2_K;
    case CK_Q3_K: return ck__unpack_q3_K;
    case CK_Q4_K: return ck__unpack_q4_K;
    case CK_Q5_K: return ck__unpack_q5_K;
    case CK_Q6_K: return ck__unpack_q6_K;
    case CK_IQ4_XS: return ck__unpack_iq4_xs;
    default: return NULL;
    }
}

static int has_min(int type) { return type == CK_Q2_K || type == CK_Q4_K || type == CK_Q5_K; }

static size_t block_bytes(int type) { return ck_row_size(type, CK_QK_K); }

/// The machine llama.cpp would run on: x86 with AVX2 (its repacking and tiled kernels are
/// x86 SIMD paths), AVX-512 for Q2_K's repacking. Independent of ck_set_force_scalar, so the
/// scalar references give the same bits.
static int x86_avx2(void) { return ck_cpu_has_avx2_fma_f16c(); }
static int x86_avx512(void) { return ck_cpu_has_avx512(); }

static int repacked(int type, int64_t rows) {
    if (rows % 8 != 0) return 0;
    if (type == CK_Q4_K) return x86_avx2();
    if (type == CK_Q2_K) return x86_avx512();
    return 0;
}

/// llama.cpp's order for token t of a sequence of n tokens (see the file comment).
static int order_for(int type, int rep, int64_t n, int64_t t) {
    if (rep) {
        if (t < n - n % 4) return type == CK_Q4_K ? ORDER_CHAINS64 : ORDER_CHAINS128;
        return type == CK_Q4_K ? ORDER_DOT : ORDER_CHAINS256;
    }
    if (n >= 8 && x86_avx2()) return ORDER_TILED;
    return ORDER_DOT;
}

/// Integer sums of one unpacked block with one activation block, per granule of 64 weights:
/// S[g] = sum of sc[c] * (q . q8)_c and M[g] = sum of m[c] * bsum_c over its four runs of 16.
static void block_sums_ref(const ck_kblock *w, const ck_block_q8_K *a, int32_t S[4], int32_t M[4]) {
    for (int g = 0; g < 4; g++) {
        int32_t s = 0, m = 0;
        for (int c = 4 * g; c < 4 * g + 4; c++) {
            int32_t dot = 0;
            for (int e = 16 * c; e < 16 * c + 16; e++) dot += (int32_t)w->q[e] * a->qs[e];
            s += w->sc[c] * dot;
            m += w->m[c] * a->bsums[c];
        }
        S[g] = s;
        M[g] = m;
    }
}

/// Folds one block's sums into a token's accumulators in `order` (see the file comment).
static inline void combine(int order, int min, const ck_kblock *w, float d8, const int32_t S[4], const int32_t M[4],
                           float *acc, float *acc_min) {
    if (order == ORDER_TILED) {
        float r = w->d * (float)(S[0] + S[1] + S[2] + S[3]);
        if (min) r = fmaf(-w->dmin, (float)(M[0] + M[1] + M[2] + M[3]), r);
        *acc = fmaf(r, d8, *acc);
        return;
    }
    const float dd = w->d * d8, dm = w->dmin * d8;
    if (order == ORDER_CHAINS64) {
        for (int g = 0; g < 4; g++) {
            *acc = fmaf((float)S[g], dd, *acc);
            *acc_min = fmaf((float)M[g], dm, *acc_min);
        }
    } else if (order == ORDER_CHAINS128) {
        for (int g = 0; g < 4; g += 2) {
            *acc = fmaf((float)(S[g] + S[g + 1]), dd, *acc);
            *acc_min = fmaf((float)(M[g] + M[g + 1]), dm, *acc_min);
        }
    } else {
        *acc = fmaf((float)(S[0] + S[1] + S[2] + S[3]), dd, *acc);
        *acc_min = fmaf((float)(M[0] + M[1] + M[2] + M[3]), dm, *acc_min);
    }
}

static inline float finish(int order, float acc, float acc_min) {
    return order == ORDER_TILED ? acc : acc - acc_min;
}

/// The scalar reference of ck__kquant_group_batch_avx2 (ck_kquant_lanes.c) (acc[4 * i + r] likewise).
static void group_batch_ref(const kquant_job *job, int part, const uint8_t *w_rows, int nr, const int64_t *tokens,
                            int64_t n, float *acc, float *acc_min) {
    const uint8_t *order = job->order[part];
    for (int64_t b = 0; b < job->nb; b++) {
        ck_kblock blk[4];
        for (int r = 0; r < nr; r++) job->unpack(w_rows + (size_t)r * job->row_stride + (size_t)b * job->block_stride, &blk[r]);
        for (int64_t i = 0; i < n; i++) {
            const int64_t t = tokens[i];
            const ck_block_q8_K *a = (const ck_block_q8_K *)(job->act + (size_t)t * job->act_row_bytes) + b;
            for (int r = 0; r < nr; r++) {
                int32_t S[4], M[4];
                block_sums_ref(&blk[r], a, S, M);
                combine(order[t], job->min, &blk[r], a->d, S, M, &acc[4 * i + r], &acc_min[4 * i + r]);
            }
        }
    }
}

/// Row r of a group into a contiguous GGUF row (the scalar dots of packed groups), in `row`.
static const uint8_t *gather_row(const kquant_job *job, const uint8_t *w_rows, int r, uint8_t *row) {
    const size_t bb = block_bytes(job->type);
    if (job->block_stride == bb) return w_rows + (size_t)r * job->row_stride;
    for (int64_t b = 0; b < job->nb; b++) memcpy(row + b * bb, w_rows + (size_t)r * job->row_stride + (size_t)b * job->block_stride, bb);
    return row;
}

/// Rows [4 * g, 4 * g + 4) of one part against every token.
static void part_group(const kquant_job *job, int part, int64_t g, int64_t *tokens, float *acc, float *acc_min, uint8_t *row) {
    const int64_t rows = job->rows[part], r0 = 4 * g, ys = job->y_stride[part];
    const int nr = rows - r0 < 4 ? (int)(rows - r0) : 4;
    const uint8_t *w_rows = job->w[part] + (size_t)r0 * job->w_row_bytes;
    const uint8_t *order = job->order[part];
    float *y = job->y[part];
    int64_t n = 0;
    for (int64_t t = 0; t < job->n_tok; t++) {
        if (order[t] == ORDER_DOT) {
            const uint8_t *a = job->act + (size_t)t * job->act_row_bytes;
            if (nr == 4 && job->dot4) {
                job->dot4(job->cols, w_rows, job->row_stride, job->block_stride, a, y + t * ys + r0);
            } else {
                for (int r = 0; r < nr; r++) y[t * ys + r0 + r] = job->dot(job->cols, gather_row(job, w_rows, r, row), a);
            }
        } else {
            tokens[n++] = t;
        }
    }
    if (n == 0) return;
    memset(acc, 0, sizeof(float) * 4 * (size_t)n);
    memset(acc_min, 0, sizeof(float) * 4 * (size_t)n);
#if defined(__x86_64__)
    if (ck__use_simd()) ck__kquant_group_batch_avx2(job, part, w_rows, nr, tokens, n, acc, acc_min);
    else
#endif
        group_batch_ref(job, part, w_rows, nr, tokens, n, acc, acc_min);
    for (int r = 0; r < nr; r++) {
        for (int64_t i = 0; i < n; i++) {
            const int64_t t = tokens[i];
            y[t * ys + r0 + r] = finish(order[t], acc[4 * i + r], acc_min[4 * i + r]);
        }
    }
}

static void kquant_groups(void *raw, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    const kquant_job *job = raw;
    int64_t *tokens = malloc(sizeof(int64_t) * (size_t)job->n_tok);
    float *acc = malloc(sizeof(float) * 8 * (size_t)job->n_tok);
    uint8_t *row = job->block_stride == block_bytes(job->type) ? NULL : malloc(job->w_row_bytes);
    if (!tokens || !acc || (!row && job->block_stride != block_bytes(job->type))) {
        free(tokens);
        free(acc);
        free(row);
        return;
    }
    for (int part = 0; part < job->n_parts && begin < end; part++) {
        const int64_t lo = job->first_group[part], hi = job->first_group[part + 1];
        if (begin >= hi) continue;
        const int64_t stop = end < hi ? end : hi;
        for (int64_t g = begin - lo; g < stop - lo; g++) part_group(job, part, g, tokens, acc, acc + 4 * job->n_tok, row);
        begin = stop;
    }
    free(tokens);
    free(acc);
    free(row);
}

/// The product over parts already described (w, rows, y, y_stride) in `job`.
static void run_kquant(ck_pool *pool, kquant_job *job, const float *X, int n_seg, const int64_t *seg_len) {
    const int64_t n_tok = job->n_tok;
    job->min = has_min(job->type);
    job->unpack = unpack_for(job->type);
    job->dot = ck__dot_for(job->type);
    job->dot4 = ck__kdot4_for(job->type);
    job->nb = job->cols / CK_QK_K;
    job->act_row_bytes = ck_row_size(CK_Q8_K, job->cols);
    uint8_t *orders = malloc((size_t)job->n_parts * (size_t)n_tok);
    if (!job->unpack || !job->dot || !orders) {
        free(orders);
        for (int i = 0; i < job->n_parts; i++)
            for (int64_t t = 0; t < n_tok; t++) memset(job->y[i] + t * job->y_stride[i], 0, sizeof(float) * (size_t)job->rows[i]);
        return;
    }
    const int64_t whole = n_tok;
    if (n_seg <= 0 || !seg_len) {
        n_seg = 1;
        seg_len = &whole;
    }
    for (int i = 0; i < job->n_parts; i++) {
        job->first_group[i + 1] = job->first_group[i] + (job->rows[i] + 3) / 4;
        uint8_t *order = orders + (size_t)i * (size_t)n_tok;
        const int rep = repacked(job->type, job->rows[i]);
        int64_t t = 0;
        for (int s = 0; s < n_seg && t < n_tok; s++) {
            for (int64_t k = 0; k < seg_len[s] && t < n_tok; k++, t++) order[t] = (uint8_t)order_for(job->type, rep, seg_len[s], k);
        }
        for (; t < n_tok; t++) order[t] = ORDER_DOT;
        job->order[i] = order;
    }
    if (pool) ck__pool_lock_op(pool);
    uint8_t *act = pool ? ck__pool_scratch(pool, 0, job->act_row_bytes * (size_t)n_tok) : malloc(job->act_row_bytes * (size_t)n_tok);
    if (!act) {
        if (pool) ck__pool_unlock_op(pool);
        free(orders);
        for (int i = 0; i < job->n_parts; i++)
            for (int64_t t = 0; t < n_tok; t++) memset(job->y[i] + t * job->y_stride[i], 0, sizeof(float) * (size_t)job->rows[i]);
        return;
    }
    ck__prepare_activations(pool, job->type, X, n_tok, job->cols, act, job->act_row_bytes); // Q8_K rows
    job->act = act;
    // Groups of four rows; a few per claim keep the two cores level on the narrow matrices.
    ck_pool_run(pool, job->first_group[job->n_parts], 4, kquant_groups, job);
    if (pool) ck__pool_unlock_op(pool);
    else free(act);
    free(orders);
}

void ck__matmul_kquant(ck_pool *pool, int type, int n_parts, const void *const *W, const int64_t *rows, int64_t cols,
                       const float *X, int64_t n_tok, int n_seg, const int64_t *seg_len, float *const *Y) {
    kquant_job job = { .type = type, .n_parts = n_parts, .w_row_bytes = ck_row_size(type, cols), .cols = cols, .n_tok = n_tok };
    job.row_stride = job.w_row_bytes;
    job.block_stride = block_bytes(type);
    for (int i = 0; i < n_parts; i++) {
        job.w[i] = W[i];
        job.rows[i] = rows[i];
        job.y[i] = Y[i];
        job.y_stride[i] = rows[i];
    }
    run_kquant(pool, &job, X, n_seg, seg_len);
}

void ck__matmul_kquant_groups(ck_pool *pool, int type, int n_parts, const uint8_t *data, const int64_t *rows, int64_t cols,
                              const float *X, int64_t n_tok, int n_seg, const int64_t *seg_len, float *Y) {
    kquant_job job = { .type = type, .n_parts = n_parts, .w_row_bytes = ck_row_size(type, cols), .cols = cols, .n_tok = n_tok };
    job.row_stride = block_bytes(type);
    job.block_stride = 4 * block_bytes(type);
    int64_t total = 0;
    for (int i = 0; i < n_parts; i++) total += rows[i];
    int64_t first_row = 0;
    for (int i = 0; i < n_parts; i++) {
        job.w[i] = data + (size_t)first_row * job.w_row_bytes;
        job.rows[i] = rows[i];
        job.y[i] = Y + first_row;
        job.y_stride[i] = total;
        first_row += rows[i];
    }
    run_kquant(pool, &job, X, n_seg, seg_len);
}
