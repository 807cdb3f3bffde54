// Shared by the K-quant products (ck_kquant_matmul.c) and their SIMD lane kernels
// (ck_kquant_lanes.c).
#ifndef CK_KQUANT_INTERNAL_H
#define CK_KQUANT_INTERNAL_H

#include "ck_internal.h"

enum {
    ORDER_DOT = 0,      // the type's single-token dot (vec_dot, or Q4_K's gemv: the same bits)
    ORDER_TILED = 1,    // llama.cpp's tiled kernel
    ORDER_CHAINS64 = 2, // repacked gemm, Q4_K
    ORDER_CHAINS128 = 3, // repacked gemm, Q2_K
    ORDER_CHAINS256 = 4, // repacked gemv
};

typedef void (*unpack_fn)(const void *block, ck_kblock *out);

/// One product: its parts (GGUF rows or packed groups, read at row/block strides), the tokens'
/// orders and their prepared Q8_K activations.
typedef struct {
    int type, min;
    unpack_fn unpack;
    ck_dot_fn dot;
    int n_parts;
    const uint8_t *w[CK_MATMUL_MAX_PARTS];
    int64_t rows[CK_MATMUL_MAX_PARTS];
    int64_t first_group[CK_MATMUL_MAX_PARTS + 1]; // prefix sums of each part's groups of 4 rows
    float *y[CK_MATMUL_MAX_PARTS];
    int64_t y_stride[CK_MATMUL_MAX_PARTS]; // floats from one token's outputs to the next's
    const uint8_t *order[CK_MATMUL_MAX_PARTS]; // per token
    ck_kdot4_fn dot4;
    size_t w_row_bytes; // a group of 4 rows starts every 4 * w_row_bytes bytes
    size_t row_stride, block_stride; // row r's block b at + r * row_stride + b * block_stride
    const uint8_t *act;
    size_t act_row_bytes;
    int64_t cols, nb, n_tok;
} kquant_job;

#if defined(__x86_64__)
/// The batch tokens (those not in ORDER_DOT) of a group of nr (<= 4) rows, four rows in vector
/// lanes: acc[4 * i + r], acc_min likewise (ck_kquant_lanes.c).
void ck__kquant_group_batch_avx2(const kquant_job *job, int part, const uint8_t *w_rows, int nr, const int64_t *tokens,
                                 int64_t n, float *acc, float *acc_min);
#endif

#endif
