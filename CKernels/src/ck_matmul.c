// Y = X · Wᵀ for quantized, half and f32 weights.
#include "ck_internal.h"

#include <cblas.h>
#include <string.h>

#define CK_MAX_PARTS CK_MATMUL_MAX_PARTS
/// Batches from this many tokens take the register-blocked F16/F32 GEMM (fewer: the dots).
#define CK_GEMM_MIN_TOKENS 2

typedef struct {
    ck_dot_fn dot;
    ck_dot4_fn dot4; // NULL: one row at a time
    ck_tile4x2_fn tile; // NULL: one token at a time
    int n_parts;
    const uint8_t *w[CK_MAX_PARTS];
    int64_t rows[CK_MAX_PARTS];
    int64_t first_row[CK_MAX_PARTS + 1]; // prefix sums of the parts' rows
    float *y[CK_MAX_PARTS];
    size_t w_row_bytes;
    const uint8_t *act;
    size_t act_row_bytes;
    int64_t cols, n_tok;
} matmul_job;

/// Rows [begin, end) of one part against every token: each weight row is read from memory
/// once and reused from cache for all tokens.
static void matmul_part_rows(const matmul_job *job, int part, int64_t begin, int64_t end) {
    const uint8_t *w = job->w[part];
    const int64_t rows = job->rows[part];
    float *y = job->y[part];
    if (job->dot4) {
        // Four rows per pass: each token's activations are read once per four weight rows.
        for (; begin + 4 <= end; begin += 4) {
            const uint8_t *w_rows = w + (size_t)begin * job->w_row_bytes;
            int64_t t = 0;
            if (job->tile) {
                // Two tokens per pass: each row's quants are expanded once for both.
                for (; t + 2 <= job->n_tok; t += 2) {
                    float out0[4], out1[4];
                    job->tile(job->cols, w_rows, job->w_row_bytes, job->act + (size_t)t * job->act_row_bytes,
                              job->act + (size_t)(t + 1) * job->act_row_bytes, out0, out1);
                    for (int k = 0; k < 4; k++) {
                        y[t * rows + begin + k] = out0[k];
                        y[(t + 1) * rows + begin + k] = out1[k];
                    }
                }
            }
            for (; t < job->n_tok; t++) {
                float out[4];
                job->dot4(job->cols, w_rows, job->w_row_bytes, job->act + (size_t)t * job->act_row_bytes, out);
                for (int k = 0; k < 4; k++) y[t * rows + begin + k] = out[k];
            }
        }
    }
    for (int64_t r = begin; r < end; r++) {
        const uint8_t *w_row = w + (size_t)r * job->w_row_bytes;
        for (int64_t t = 0; t < job->n_tok; t++) {
            y[t * rows + r] = job->dot(job->cols, w_row, job->act + (size_t)t * job->act_row_bytes);
        }
    }
}

/// Rows [begin, end) numbered across the stacked parts.
static void matmul_rows(void *raw, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    const matmul_job *job = raw;
    for (int part = 0; part < job->n_parts && begin < end; part++) {
        const int64_t lo = job->first_row[part], hi = job->first_row[part + 1];
        if (begin >= hi) continue;
        const int64_t stop = end < hi ? end : hi;
        matmul_part_rows(job, part, begin - lo, stop - lo);
        begin = stop;
    }
}

typedef struct {
    int type;
    int f16_widened; // F16 with AVX2: f16-rounded activations stored as f32 (ck__dot_f16_f32_avx2)
    void *dst;
    int64_t cols;
    size_t dst_row_bytes;
    const float *x;
} prepare_job;

static void prepare_rows(void *raw, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    const prepare_job *job = raw;
    for (int64_t t = begin; t < end; t++) {
        void *dst = (uint8_t *)job->dst + (size_t)t * job->dst_row_bytes;
        if (job->f16_widened) ck__round_f16_row_avx2(job->x + t * job->cols, dst, job->cols);
        else ck_prepare_activation(job->type, job->x + t * job->cols, dst, job->cols);
    }
}

void ck__prepare_activations(ck_pool *pool, int weight_type, const float *X, int64_t n_tok, int64_t cols, void *dst,
                             size_t dst_row_bytes) {
    prepare_job prep = { weight_type, 0, dst, cols, dst_row_bytes, X };
    ck_pool_run(pool, n_tok, 8, prepare_rows, &prep);
}

static void matmul_f32_blas(const float *W, int64_t rows, int64_t cols, const float *X, int64_t n_tok, float *Y) {
    if (n_tok == 1) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)rows, (int)cols, 1.0f, W, (int)cols, X, 1, 0.0f, Y, 1);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_tok, (int)rows, (int)cols,
                    1.0f, X, (int)cols, W, (int)cols, 0.0f, Y, (int)rows);
    }
}

// MARK: - F16/F32 batches: register-blocked GEMM, tiles of 6 rows x 16 tokens
//
// Each tile keeps its 12 accumulators (6 rows times 16 tokens as two 8-lane vectors) in
// registers for the whole K: per k, two vectors of 16 tokens' activations and six broadcast
// weights feed 12 FMAs. The activations are packed once per call K-major in panels of 16
// tokens ([k][16]; for F16 weights rounded to f16 as the single dot sees them); the weights
// are read in place (F32) or widened row by row (F16), once per block of rows and thread.
// A thread takes a block of rows (sized to stay in L2) and runs every token panel against
// each of the block's 6-row panels, so each token panel is fetched once per block.
// Every output is one FMA chain over k = 0, 1, ..., cols - 1 whichever thread computes it,
// so results do not depend on the thread count or on the other tokens of the batch; they
// differ from the single-token dots (four or two 8-lane accumulators) by rounding only.

#define CK_MR 6
#define CK_NR 16

typedef struct {
    int type; // CK_F16 or CK_F32
    const uint8_t *w[CK_MAX_PARTS];
    int64_t rows[CK_MAX_PARTS];
    int64_t first_block[CK_MAX_PARTS + 1]; // prefix sums of each part's row blocks
    float *y[CK_MAX_PARTS];
    size_t w_row_bytes;
    int64_t cols, n_tok, n_panels, block_rows;
    const float *x;
    float *xp;  // n_panels x cols x CK_NR
    float *wf;  // F16: per thread, block_rows x cols widened weights
    size_t wf_per_thread;
} gemm_job;

#if defined(__x86_64__)
#include <immintrin.h>

/// Activation panels [begin, end): 16 token rows stored K-major (f16-rounded for F16
/// weights), eight tokens x eight columns transposed at a time; missing tokens of the last
/// panel are zero.
CK_AVX2 static void gemm_pack_x(void *raw, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    const gemm_job *job = raw;
    const int64_t cols = job->cols;
    for (int64_t p = begin; p < end; p++) {
        float *dst = job->xp + (size_t)p * (size_t)cols * CK_NR;
        for (int half = 0; half < CK_NR / 8; half++) {
            const int64_t t0 = p * CK_NR + half * 8;
            for (int64_t k = 0; k < cols; k += 8) {
                __m256 v[8];
                for (int i = 0; i < 8; i++) {
                    if (t0 + i >= job->n_tok) {
                        v[i] = _mm256_setzero_ps();
                        continue;
                    }
                    v[i] = _mm256_loadu_ps(job->x + (t0 + i) * cols + k);
                    if (job->type == CK_F16) v[i] = _mm256_cvtph_ps(_mm256_cvtps_ph(v[i], _MM_FROUND_TO_NEAREST_INT));
                }
                __m256 columns[8];
                ck__transpose8(v, columns);
                for (int i = 0; i < 8; i++) _mm256_store_ps(dst + (k + i) * CK_NR + half * 8, columns[i]);
            }
        }
    }
}

/// One tile: 6 weight rows (f32, `ldw` floats apart) x one packed token panel over all k;
/// stores `nt` tokens x `nr` rows of y (and, with `spill`, garbage in the two rows after).
CK_AVX2 static inline void gemm_tile(const float *w, int64_t ldw, const float *xp, int64_t cols, float *y, int64_t ldy,
                                     int nt, int nr, int spill) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    // Rows past nr repeat row 0 (their results are dropped).
    const float *w0 = w, *w1 = nr > 1 ? w + ldw : w, *w2 = nr > 2 ? w + 2 * ldw : w;
    const float *w3 = nr > 3 ? w + 3 * ldw : w, *w4 = nr > 4 ? w + 4 * ldw : w, *w5 = nr > 5 ? w + 5 * ldw : w;
    for (int64_t k = 0; k < cols; k++, xp += CK_NR) {
        const __m256 a0 = _mm256_load_ps(xp), a1 = _mm256_load_ps(xp + 8);
        __m256 b = _mm256_broadcast_ss(w0 + k);
        c00 = _mm256_fmadd_ps(a0, b, c00); c01 = _mm256_fmadd_ps(a1, b, c01);
        b = _mm256_broadcast_ss(w1 + k);
        c10 = _mm256_fmadd_ps(a0, b, c10); c11 = _mm256_fmadd_ps(a1, b, c11);
        b = _mm256_broadcast_ss(w2 + k);
        c20 = _mm256_fmadd_ps(a0, b, c20); c21 = _mm256_fmadd_ps(a1, b, c21);
        b = _mm256_broadcast_ss(w3 + k);
        c30 = _mm256_fmadd_ps(a0, b, c30); c31 = _mm256_fmadd_ps(a1, b, c31);
        b = _mm256_broadcast_ss(w4 + k);
        c40 = _mm256_fmadd_ps(a0, b, c40); c41 = _mm256_fmadd_ps(a1, b, c41);
        b = _mm256_broadcast_ss(w5 + k);
        c50 = _mm256_fmadd_ps(a0, b, c50); c51 = _mm256_fmadd_ps(a1, b, c51);
    }
    // [row][token] → y[token][row]: each 8 tokens transposed in registers (rows 6 and 7 zero),
    // then 8 rows stored per token. Rows past the tile's six are written only when `spill`
    // says the next tile of the block rewrites them later; otherwise a masked store.
    const __m256 zero = _mm256_setzero_ps();
    const __m256 half0[8] = { c00, c10, c20, c30, c40, c50, zero, zero };
    const __m256 half1[8] = { c01, c11, c21, c31, c41, c51, zero, zero };
    __m256 tok[2][8];
    ck__transpose8(half0, tok[0]);
    ck__transpose8(half1, tok[1]);
    if (spill) {
        for (int t = 0; t < nt; t++) _mm256_storeu_ps(y + t * ldy, tok[t / 8][t % 8]);
    } else {
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        for (int t = 0; t < nt; t++) _mm256_maskstore_ps(y + t * ldy, mask, tok[t / 8][t % 8]);
    }
}

/// Row blocks [begin, end) (numbered across the parts) against every token panel.
CK_AVX2 static void gemm_blocks(void *raw, int64_t begin, int64_t end, int thread_index) {
    const gemm_job *job = raw;
    const int64_t cols = job->cols;
    int part = 0;
    for (int64_t block = begin; block < end; block++) {
        while (block >= job->first_block[part + 1]) part++;
        const int64_t rows = job->rows[part], r0 = (block - job->first_block[part]) * job->block_rows;
        const int64_t nr = rows - r0 < job->block_rows ? rows - r0 : job->block_rows;
        const uint8_t *w = job->w[part] + (size_t)r0 * job->w_row_bytes;
        const float *wf;
        if (job->type == CK_F16) {
            float *dst = job->wf + (size_t)thread_index * job->wf_per_thread;
            const uint16_t *src = (const uint16_t *)w;
            for (int64_t i = 0; i < nr * cols; i += 8) {
                _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
            }
            wf = dst;
        } else {
            wf = (const float *)w;
        }
        for (int64_t p = 0; p < job->n_panels; p++) {
            const int64_t t0 = p * CK_NR;
            const int nt = job->n_tok - t0 < CK_NR ? (int)(job->n_tok - t0) : CK_NR;
            const float *xp = job->xp + (size_t)p * (size_t)cols * CK_NR;
            for (int64_t r = 0; r < nr; r += CK_MR) {
                const int mr = nr - r < CK_MR ? (int)(nr - r) : CK_MR;
                // The next tile of this block overwrites the two rows a full store spills into.
                const int spill = r + CK_MR + 2 <= nr;
                gemm_tile(wf + r * cols, cols, xp, cols, job->y[part] + t0 * rows + r0 + r, rows, nt, mr, spill);
            }
        }
    }
}
#endif

/// F16/F32 weights, a batch of tokens, AVX2: returns 0 when the shape is not for the tiles.
static int matmul_float_gemm(ck_pool *pool, int type, int n_parts, const void *const *W, const int64_t *rows,
                             int64_t cols, const float *X, int64_t n_tok, float *const *Y) {
#if defined(__x86_64__)
    if (!pool || !ck__use_simd() || n_tok < CK_GEMM_MIN_TOKENS || cols % 8 != 0) return 0;
    if ((type != CK_F16 && type != CK_F32) || n_parts < 1 || n_parts > CK_MAX_PARTS) return 0;
    const int threads = ck_pool_threads(pool);
    int64_t total = 0;
    for (int i = 0; i < n_parts; i++) total += rows[i];
    // Rows per block: the block's f32 weights (at most ~192 KB) stay in L2 while every token
    // panel passes, and eight blocks or more per thread keep the threads level. Each block
    // reads all the token panels again: when they fit in L2 too (short batches), blocks can be
    // small, 32 per thread, so the threads finish within a few rows of each other.
    const size_t xp_bytes = sizeof(float) * (size_t)((n_tok + CK_NR - 1) / CK_NR) * (size_t)cols * CK_NR;
    const int64_t per_thread = xp_bytes <= 256 * 1024 ? 32 : 8;
    int64_t block_rows = (int64_t)(192 * 1024 / ((size_t)cols * 4));
    const int64_t level = (total + per_thread * threads - 1) / (per_thread * threads);
    if (block_rows > level) block_rows = level;
    block_rows = block_rows < CK_MR ? CK_MR : block_rows / CK_MR * CK_MR;
    gemm_job job = { .type = type, .w_row_bytes = ck_row_size(type, cols), .cols = cols, .n_tok = n_tok,
                     .n_panels = (n_tok + CK_NR - 1) / CK_NR, .block_rows = block_rows, .x = X };
    for (int i = 0; i < n_parts; i++) {
        job.w[i] = W[i];
        job.rows[i] = rows[i];
        job.y[i] = Y[i];
        job.first_block[i + 1] = job.first_block[i] + (rows[i] + block_rows - 1) / block_rows;
    }
    job.wf_per_thread = type == CK_F16 ? (size_t)block_rows * (size_t)cols : 0;
    ck__pool_lock_op(pool);
    job.xp = ck__pool_scratch(pool, 3, sizeof(float) * (size_t)job.n_panels * (size_t)cols * CK_NR);
    job.wf = type == CK_F16 ? ck__pool_scratch(pool, 2, sizeof(float) * job.wf_per_thread * (size_t)threads) : NULL;
    if (!job.xp || (type == CK_F16 && !job.wf)) {
        ck__pool_unlock_op(pool);
        return 0;
    }
    ck_pool_run(pool, job.n_panels, 1, gemm_pack_x, &job);
    ck__pool_run_chunked(pool, job.first_block[n_parts], 1, gemm_blocks, &job);
    ck__pool_unlock_op(pool);
    return 1;
#else
    (void)pool; (void)type; (void)n_parts; (void)W; (void)rows; (void)cols; (void)X; (void)n_tok; (void)Y;
    return 0;
#endif
}

void ck_matmul_parts(ck_pool *pool, int type, int n_parts, const void *const *W, const int64_t *rows, int64_t cols,
                     const float *X, int64_t n_tok, float *const *Y) {
    if (n_tok <= 0 || n_parts < 1 || n_parts > CK_MAX_PARTS) return;
    int64_t total = 0;
    for (int i = 0; i < n_parts; i++) {
        if (rows[i] < 0) return;
        total += rows[i];
    }
    if (total == 0) return;
    if (type == CK_F32 && !ck__use_simd()) {
        // Without SIMD kernels of our own, OpenBLAS is the fast path for f32.
        for (int i = 0; i < n_parts; i++) {
            if (rows[i] > 0) matmul_f32_blas(W[i], rows[i], cols, X, n_tok, Y[i]);
        }
        return;
    }
    if (matmul_float_gemm(pool, type, n_parts, W, rows, cols, X, n_tok, Y)) return;
    if (type == CK_F32 && n_tok >= CK_GEMM_MIN_TOKENS) {
        for (int i = 0; i < n_parts; i++) {
            if (rows[i] > 0) matmul_f32_blas(W[i], rows[i], cols, X, n_tok, Y[i]);
        }
        return;
    }
    if (ck__is_kquant(type)) {
        // Their batches follow llama.cpp's per-type batch kernels (ck_kquant_matmul.c).
        ck__matmul_kquant(pool, type, n_parts, W, rows, cols, X, n_tok, 0, NULL, Y);
        return;
    }
    ck_dot_fn dot = ck__dot_for(type);
    if (!dot) return;
    const int act_type = ck_activation_type(type);
    size_t act_row_bytes = ck_row_size(act_type, cols);
    // F16 with AVX2: the activations rounded to f16 and widened once per call, so each row's
    // dot converts only its weights (the same products in the same order).
    const int f16_widened = type == CK_F16 && ck__use_simd();
    ck_dot4_fn dot4 = ck__dot4_for(type);
    if (f16_widened) {
        dot = ck__dot_f16_f32_avx2;
        dot4 = ck__dot4_f16_f32_avx2;
        act_row_bytes = (size_t)cols * 4;
    }

    if (pool) ck__pool_lock_op(pool);
    const uint8_t *act;
    if (act_type == CK_F32) {
        act = (const uint8_t *)X; // f32 and bf16 weights read the activations as they are
    } else {
        uint8_t *scratch = pool ? ck__pool_scratch(pool, 0, act_row_bytes * (size_t)n_tok) : NULL;
        if (!scratch) {
            if (pool) ck__pool_unlock_op(pool);
            for (int i = 0; i < n_parts; i++) memset(Y[i], 0, sizeof(float) * (size_t)(rows[i] * n_tok));
            return;
        }
        prepare_job prep = { type, f16_widened, scratch, cols, act_row_bytes, X };
        ck_pool_run(pool, n_tok, 8, prepare_rows, &prep);
        act = scratch;
    }
    if (ck__matmul_block32(pool, type, n_parts, W, rows, cols, act, act_row_bytes, n_tok, Y)) {
        if (pool) ck__pool_unlock_op(pool);
        return;
    }
    matmul_job job = { .dot = dot, .dot4 = dot4, .tile = f16_widened ? NULL : ck__tile4x2_for(type), .n_parts = n_parts, .w_row_bytes = ck_row_size(type, cols),
                       .act = act, .act_row_bytes = act_row_bytes, .cols = cols, .n_tok = n_tok };
    for (int i = 0; i < n_parts; i++) {
        job.w[i] = W[i];
        job.rows[i] = rows[i];
        job.y[i] = Y[i];
        job.first_row[i + 1] = job.first_row[i] + rows[i];
    }
    // Small grains keep both threads busy on the narrow (192-row) projections.
    ck_pool_run(pool, total, 16, matmul_rows, &job);
    if (pool) ck__pool_unlock_op(pool);
}

void ck_matmul_parts_seq(ck_pool *pool, int type, int n_parts, const void *const *W, const int64_t *rows, int64_t cols,
                         const float *X, int64_t n_tok, int n_seg, const int64_t *seg_len, float *const *Y) {
    if (n_tok <= 0 || n_parts < 1 || n_parts > CK_MAX_PARTS) return;
    if (!ck__is_kquant(type) || n_seg <= 1) {
        ck_matmul_parts(pool, type, n_parts, W, rows, cols, X, n_tok, Y);
        return;
    }
    for (int i = 0; i < n_parts; i++) {
        if (rows[i] < 0) return;
    }
    ck__matmul_kquant(pool, type, n_parts, W, rows, cols, X, n_tok, n_seg, seg_len, Y);
}

void ck_matmul(ck_pool *pool, int type, const void *W, int64_t rows, int64_t cols,
               const float *X, int64_t n_tok, float *Y) {
    ck_matmul_parts(pool, type, 1, &W, &rows, cols, X, n_tok, &Y);
}
