// Internal declarations shared by the kernel translation units.
#ifndef CK_INTERNAL_H
#define CK_INTERNAL_H

#include "ckernels.h"

#include <pthread.h>
#include <stdatomic.h>

typedef float (*ck_dot_fn)(int64_t n, const void *w_row, const void *act_row);
/// Four consecutive weight rows (w_stride bytes apart) against one activation row.
typedef void (*ck_dot4_fn)(int64_t n, const void *w, size_t w_stride, const void *act_row, float out[4]);

/// Scalar reference dots (ck_quant.c).
float ck__dot_q4_0_q8_0_ref(int64_t n, const void *w, const void *a);
float ck__dot_q4_1_q8_1_ref(int64_t n, const void *w, const void *a);
float ck__dot_q8_0_q8_0_ref(int64_t n, const void *w, const void *a);
float ck__dot_f16_f16_ref(int64_t n, const void *w, const void *a);
float ck__dot_f32_f32_ref(int64_t n, const void *w, const void *a);
float ck__dot_bf16_f32_ref(int64_t n, const void *w, const void *a);
void ck__quantize_row_q8_0_ref(const float *x, ck_block_q8_0 *y, int64_t n);
void ck__quantize_row_q8_1_ref(const float *x, ck_block_q8_1 *y, int64_t n);
void ck__fp16_to_fp32_row_ref(const uint16_t *src, float *dst, int64_t n);
void ck__fp32_to_fp16_row_ref(const float *src, uint16_t *dst, int64_t n);

/// AVX2/FMA/F16C dots (ck_dot_avx2.c); only called when the CPU has them.
float ck__dot_q4_0_q8_0_avx2(int64_t n, const void *w, const void *a);
float ck__dot_q4_1_q8_1_avx2(int64_t n, const void *w, const void *a);
float ck__dot_q8_0_q8_0_avx2(int64_t n, const void *w, const void *a);
float ck__dot_f16_f16_avx2(int64_t n, const void *w, const void *a);
float ck__dot_f32_f32_avx2(int64_t n, const void *w, const void *a);
void ck__quantize_row_q8_0_avx2(const float *x, ck_block_q8_0 *y, int64_t n);
void ck__quantize_row_q8_1_avx2(const float *x, ck_block_q8_1 *y, int64_t n);
void ck__fp16_to_fp32_row_avx2(const uint16_t *src, float *dst, int64_t n);
void ck__dot4_q4_1_q8_1_avx2(int64_t n, const void *w, size_t w_stride, const void *a, float out[4]);
void ck__dot4_q4_0_q8_0_avx2(int64_t n, const void *w, size_t w_stride, const void *a, float out[4]);
void ck__dot4_q8_0_q8_0_avx2(int64_t n, const void *w, size_t w_stride, const void *a, float out[4]);
void ck__fp32_to_fp16_row_avx2(const float *src, uint16_t *dst, int64_t n);

/// Vector math with llama.cpp's AVX2 rounding (ck_math_avx2.c).
void ck__silu_mul_avx2(float *gate, const float *up, int64_t n);
void ck__softmax_avx2(float *x, int64_t n);
void ck__rope_rotate_fma(float *a, float *b, float cos_t, float sin_t);

/// The dot used for weights of `type` (dispatched, honours ck_set_force_scalar).
ck_dot_fn ck__dot_for(int type);
/// The four-row kernel for `type`, or NULL where rows go one at a time.
ck_dot4_fn ck__dot4_for(int type);
int ck__use_simd(void);

/// Pool-owned scratch: `slot` 0 for matmul activations, 1.. for per-op use. Callers hold
/// the pool's op lock (ck__pool_lock_op) while they use it.
void *ck__pool_scratch(ck_pool *pool, int slot, size_t bytes);
void ck__pool_lock_op(ck_pool *pool);
/// ck_pool_run with chunks of exactly `chunk` items (for jobs of few, large items).
void ck__pool_run_chunked(ck_pool *pool, int64_t n, int64_t chunk, ck_range_fn fn, void *ctx);
void ck__pool_unlock_op(ck_pool *pool);

#endif
