// Y = X · Wᵀ for quantized, half and f32 weights.
#include "ck_internal.h"

#include <cblas.h>
#include <string.h>

typedef struct {
    ck_dot_fn dot;
    ck_dot4_fn dot4; // NULL: one row at a time
    const uint8_t *w;
    size_t w_row_bytes;
    const uint8_t *act;
    size_t act_row_bytes;
    int64_t rows, cols, n_tok;
    float *y;
} matmul_job;

/// Rows [begin, end) of W against every token: each weight row is read from memory once and
/// reused from cache for all tokens.
static void matmul_rows(void *raw, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    const matmul_job *job = raw;
    if (job->dot4) {
        // Four rows per pass: each token's activations are read once per four weight rows.
        for (; begin + 4 <= end; begin += 4) {
            const uint8_t *w_rows = job->w + (size_t)begin * job->w_row_bytes;
            for (int64_t t = 0; t < job->n_tok; t++) {
                float out[4];
                job->dot4(job->cols, w_rows, job->w_row_bytes, job->act + (size_t)t * job->act_row_bytes, out);
                for (int k = 0; k < 4; k++) job->y[t * job->rows + begin + k] = out[k];
            }
        }
    }
    for (int64_t r = begin; r < end; r++) {
        const uint8_t *w_row = job->w + (size_t)r * job->w_row_bytes;
        for (int64_t t = 0; t < job->n_tok; t++) {
            job->y[t * job->rows + r] = job->dot(job->cols, w_row, job->act + (size_t)t * job->act_row_bytes);
        }
    }
}

typedef struct {
    int type;
    const void *src;
    void *dst;
    int64_t cols;
    size_t src_row_bytes, dst_row_bytes;
    const float *x;
} prepare_job;

static void prepare_rows(void *raw, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    const prepare_job *job = raw;
    for (int64_t t = begin; t < end; t++) {
        ck_prepare_activation(job->type, job->x + t * job->cols, (uint8_t *)job->dst + (size_t)t * job->dst_row_bytes, job->cols);
    }
}

static void matmul_f32_blas(const float *W, int64_t rows, int64_t cols, const float *X, int64_t n_tok, float *Y) {
    if (n_tok == 1) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)rows, (int)cols, 1.0f, W, (int)cols, X, 1, 0.0f, Y, 1);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_tok, (int)rows, (int)cols,
                    1.0f, X, (int)cols, W, (int)cols, 0.0f, Y, (int)rows);
    }
}

// MARK: - F16/F32 batches: tiles of 4 rows x 2 tokens
//
// ck__dot_f16_f16_avx2 sums four 8-lane accumulators (element i goes to accumulator
// (i / 8) % 4) and ck__dot_f32_f32_avx2 two ((i / 8) % 2). Each accumulator is an independent
// chain, so the tile runs one accumulator stream at a time for all 8 (row, token) pairs (8
// chains in registers), keeps the per-stream vectors, then reduces each pair exactly as the
// single dot does. Weights are widened to f32 once per group and token tile.

#if defined(__x86_64__)
#include <immintrin.h>
#define CK_AVX2 __attribute__((target("avx2,fma,f16c")))

typedef struct {
    int type; // CK_F16 or CK_F32
    const uint8_t *w;
    size_t w_row_bytes;
    const float *y; // n_tok x cols f32 (F16: the f16-rounded activations, widened)
    int64_t rows, cols, n_tok;
    float *out;
    float *scratch; // per thread: 4 x cols floats (F16 weights widened)
    size_t scratch_per_thread;
    int64_t token_tile;
} float_tile_job;

/// `split`: weights and activations are stored stream by stream (the F16 path widens them
/// that way, so each pass reads contiguous memory); otherwise in element order.
CK_AVX2 static void float_tile(const float_tile_job *job, const float *w0, size_t w_stride, const float *y0, const float *y1,
                               int streams, int split, float res0[4], float res1[4]) {
    const int64_t cols = job->cols;
    const int64_t step = split ? 8 : 8 * streams, count = cols / (8 * streams);
    __m256 keep[4][4][2]; // [stream][row][token]
    for (int k = 0; k < streams; k++) {
        __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        const int64_t first = split ? k * (cols / streams) : 8 * k;
        for (int64_t i = first; i < first + count * step; i += step) {
            const __m256 t0 = _mm256_loadu_ps(y0 + i), t1 = _mm256_loadu_ps(y1 + i);
            __m256 w = _mm256_loadu_ps(w0 + i);
            a00 = _mm256_fmadd_ps(w, t0, a00); a01 = _mm256_fmadd_ps(w, t1, a01);
            w = _mm256_loadu_ps(w0 + w_stride + i);
            a10 = _mm256_fmadd_ps(w, t0, a10); a11 = _mm256_fmadd_ps(w, t1, a11);
            w = _mm256_loadu_ps(w0 + 2 * w_stride + i);
            a20 = _mm256_fmadd_ps(w, t0, a20); a21 = _mm256_fmadd_ps(w, t1, a21);
            w = _mm256_loadu_ps(w0 + 3 * w_stride + i);
            a30 = _mm256_fmadd_ps(w, t0, a30); a31 = _mm256_fmadd_ps(w, t1, a31);
        }
        keep[k][0][0] = a00; keep[k][0][1] = a01; keep[k][1][0] = a10; keep[k][1][1] = a11;
        keep[k][2][0] = a20; keep[k][2][1] = a21; keep[k][3][0] = a30; keep[k][3][1] = a31;
    }
    for (int r = 0; r < 4; r++) {
        for (int t = 0; t < 2; t++) {
            float v;
            if (streams == 4) {
                // ck__dot_f16_f16_avx2's reduction.
                const __m256 total = _mm256_add_ps(_mm256_add_ps(keep[0][r][t], keep[2][r][t]), _mm256_add_ps(keep[1][r][t], keep[3][r][t]));
                const __m128 quad = _mm_add_ps(_mm256_castps256_ps128(total), _mm256_extractf128_ps(total, 1));
                const __m128 pairs = _mm_hadd_ps(quad, quad);
                v = (float)(double)_mm_cvtss_f32(_mm_hadd_ps(pairs, pairs));
            } else {
                // ck__dot_f32_f32_avx2's: hsum8(acc0 + acc1).
                __m128 lo = _mm256_castps256_ps128(_mm256_add_ps(keep[0][r][t], keep[1][r][t]));
                __m128 hi = _mm256_extractf128_ps(_mm256_add_ps(keep[0][r][t], keep[1][r][t]), 1);
                lo = _mm_add_ps(lo, hi);
                lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
                lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
                v = _mm_cvtss_f32(lo);
            }
            (t == 0 ? res0 : res1)[r] = v;
        }
    }
}

/// f16 row → f32 stream by stream: stream k holds elements 32i + 8k ... 32i + 8k + 7 for
/// every i, one after another (cols / 4 values per stream).
CK_AVX2 static void widen_split(const uint16_t *src, float *dst, int64_t cols) {
    const int64_t per = cols / 4;
    for (int64_t i = 0; i < cols / 32; i++) {
        for (int k = 0; k < 4; k++) {
            _mm256_storeu_ps(dst + k * per + 8 * i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 32 * i + 8 * k))));
        }
    }
}

CK_AVX2 static void float_tile_rows(void *raw, int64_t begin, int64_t end, int thread_index) {
    const float_tile_job *job = raw;
    const int64_t cols = job->cols;
    const int streams = job->type == CK_F16 ? 4 : 2, split = job->type == CK_F16;
    const int64_t token_tile = job->token_tile;
    float *wf = job->scratch + (size_t)thread_index * job->scratch_per_thread;
    // begin/end count groups of four rows.
    for (int64_t t0 = 0; t0 < job->n_tok; t0 += token_tile) {
        const int64_t t1 = t0 + token_tile < job->n_tok ? t0 + token_tile : job->n_tok;
        for (int64_t g = begin; g < end; g++) {
            const uint8_t *w = job->w + (size_t)(g * 4) * job->w_row_bytes;
            const float *w0;
            size_t w_stride;
            if (job->type == CK_F16) {
                for (int r = 0; r < 4; r++) widen_split((const uint16_t *)(w + r * job->w_row_bytes), wf + r * cols, cols);
                w0 = wf;
                w_stride = (size_t)cols;
            } else {
                w0 = (const float *)w;
                w_stride = job->w_row_bytes / 4;
            }
            int64_t t = t0;
            for (; t + 2 <= t1; t += 2) {
                float r0[4], r1[4];
                float_tile(job, w0, w_stride, job->y + t * cols, job->y + (t + 1) * cols, streams, split, r0, r1);
                for (int r = 0; r < 4; r++) {
                    job->out[t * job->rows + g * 4 + r] = r0[r];
                    job->out[(t + 1) * job->rows + g * 4 + r] = r1[r];
                }
            }
            for (; t < t1; t++) {
                float r0[4], r1[4];
                float_tile(job, w0, w_stride, job->y + t * cols, job->y + t * cols, streams, split, r0, r1);
                for (int r = 0; r < 4; r++) job->out[t * job->rows + g * 4 + r] = r0[r];
            }
        }
    }
}

CK_AVX2 static void widen_f16_rows(void *raw, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    const float_tile_job *job = raw;
    // job->y is written here: rows of the f16-rounded activations, widened.
    float *y = (float *)job->y;
    const uint16_t *src = (const uint16_t *)job->w; // borrowed field: the f16 activations
    for (int64_t t = begin; t < end; t++) widen_split(src + t * job->cols, y + t * job->cols, job->cols);
}
#endif

/// F16/F32 weights, several tokens, AVX2: returns 0 when the shape is not for the tiles.
static int matmul_float_tiled(ck_pool *pool, int type, const void *W, int64_t rows, int64_t cols,
                              const float *X, int64_t n_tok, float *Y) {
#if defined(__x86_64__)
    if (!pool || !ck__use_simd() || n_tok < 2 || cols % 32 != 0 || rows < 4) return 0;
    if (type != CK_F16 && type != CK_F32) return 0;
    const int threads = ck_pool_threads(pool);
    const size_t w_row_bytes = ck_row_size(type, cols);
    const int64_t groups = rows / 4;
    ck__pool_lock_op(pool);
    const float *y = X;
    if (type == CK_F16) {
        // The activations as the f16 dot sees them: rounded to f16, then widened (exact).
        uint16_t *h = ck__pool_scratch(pool, 0, (size_t)(n_tok * cols) * 2);
        float *yf = ck__pool_scratch(pool, 3, (size_t)(n_tok * cols) * 4);
        if (!h || !yf) { ck__pool_unlock_op(pool); return 0; }
        ck_fp32_to_fp16_row(X, h, n_tok * cols);
        float_tile_job widen = { type, (const uint8_t *)h, 0, yf, rows, cols, n_tok, NULL, NULL, 0, 0 };
        ck_pool_run(pool, n_tok, 16, widen_f16_rows, &widen);
        y = yf;
    }
    const size_t per_thread = (size_t)cols * 4;
    float *scratch = ck__pool_scratch(pool, 2, per_thread * 4 * (size_t)threads);
    if (!scratch) { ck__pool_unlock_op(pool); return 0; }
    // Tokens per pass: their activations (~192 KB) stay in L2 while a group's weights are reused.
    int64_t token_tile = (int64_t)(192 * 1024 / ((size_t)cols * 4)) & ~(int64_t)1;
    token_tile = token_tile < 16 ? 16 : token_tile > 128 ? 128 : token_tile;
    float_tile_job job = { type, W, w_row_bytes, y, rows, cols, n_tok, Y, scratch, per_thread, token_tile };
    ck_pool_run(pool, groups, 2, float_tile_rows, &job);
    ck__pool_unlock_op(pool);
    // Leftover rows (rows % 4) one at a time, in the single dot's order.
    if (rows % 4) {
        ck_dot_fn dot = ck__dot_for(type);
        const int act_type = ck_activation_type(type);
        const size_t act_bytes = ck_row_size(act_type, cols);
        uint8_t act[act_bytes];
        for (int64_t t = 0; t < n_tok; t++) {
            ck_prepare_activation(type, X + t * cols, act, cols);
            for (int64_t r = groups * 4; r < rows; r++) Y[t * rows + r] = dot(cols, (const uint8_t *)W + (size_t)r * w_row_bytes, act);
        }
    }
    return 1;
#else
    (void)pool; (void)type; (void)W; (void)rows; (void)cols; (void)X; (void)n_tok; (void)Y;
    return 0;
#endif
}

void ck_matmul(ck_pool *pool, int type, const void *W, int64_t rows, int64_t cols,
               const float *X, int64_t n_tok, float *Y) {
    if (rows <= 0 || n_tok <= 0) return;
    if (type == CK_F32 && !ck__use_simd()) {
        // Without SIMD kernels of our own, OpenBLAS is the fast path for f32.
        matmul_f32_blas(W, rows, cols, X, n_tok, Y);
        return;
    }
    if (matmul_float_tiled(pool, type, W, rows, cols, X, n_tok, Y)) return;
    if (type == CK_F32 && n_tok > 1) {
        matmul_f32_blas(W, rows, cols, X, n_tok, Y);
        return;
    }
    ck_dot_fn dot = ck__dot_for(type);
    if (!dot) return;
    const int act_type = ck_activation_type(type);
    const size_t act_row_bytes = ck_row_size(act_type, cols);

    if (pool) ck__pool_lock_op(pool);
    const uint8_t *act;
    if (act_type == CK_F32) {
        act = (const uint8_t *)X; // f32 and bf16 weights read the activations as they are
    } else {
        uint8_t *scratch = pool ? ck__pool_scratch(pool, 0, act_row_bytes * (size_t)n_tok) : NULL;
        if (!scratch) {
            if (pool) ck__pool_unlock_op(pool);
            memset(Y, 0, sizeof(float) * (size_t)(rows * n_tok));
            return;
        }
        prepare_job prep = { type, NULL, scratch, cols, 0, act_row_bytes, X };
        ck_pool_run(pool, n_tok, 8, prepare_rows, &prep);
        act = scratch;
    }
    matmul_job job = { dot, ck__dot4_for(type), W, ck_row_size(type, cols), act, act_row_bytes, rows, cols, n_tok, Y };
    // Small grains keep both threads busy on the narrow (192-row) projections.
    ck_pool_run(pool, rows, 16, matmul_rows, &job);
    if (pool) ck__pool_unlock_op(pool);
}
