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

void ck_matmul(ck_pool *pool, int type, const void *W, int64_t rows, int64_t cols,
               const float *X, int64_t n_tok, float *Y) {
    if (rows <= 0 || n_tok <= 0) return;
    if (type == CK_F32 && !ck__use_simd()) {
        // Without SIMD kernels of our own, OpenBLAS is the fast path for f32.
        matmul_f32_blas(W, rows, cols, X, n_tok, Y);
        return;
    }
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
