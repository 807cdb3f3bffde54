// Q5_1: blocks of 32 weights, w = d * q + m with q of 5 bits (low 4 in nibbles as Q5_0, the
// fifth in qh, bit j for element j); ggml's block_q5_1 (24 bytes). Activations in Q8_1.
//
// The dot is llama.cpp's AVX2 order (ggml_vec_dot_q5_1_q8_1; no other kernel takes Q5_1 on
// x86): per block, 8 lanes of exact u8 x s8 dots of 4 consecutive elements in one FMA chain per
// lane with d_x * d_y, the m * s terms in a scalar FMA chain (GCC fuses `summs += m * s` at
// -march=native, as for Q4_1), the lanes summed as ck__hsum8 does, plus that chain.
#include "ck_internal.h"

#include <math.h>
#include <string.h>

/// The 32 unsigned 5-bit quants of a block in element order.
static void q5_1_values(const ck_block_q5_1 *x, uint8_t q[CK_QK]) {
    uint32_t qh;
    memcpy(&qh, x->qh, 4);
    for (int j = 0; j < CK_QK / 2; j++) {
        q[j] = (uint8_t)((x->qs[j] & 0x0f) | (((qh >> j) & 1) << 4));
        q[j + 16] = (uint8_t)((x->qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
    }
}

void ck__dequantize_row_q5_1(const void *src, float *dst, int64_t n) {
    const ck_block_q5_1 *x = src;
    for (int64_t b = 0; b < n / CK_QK; b++, dst += CK_QK) {
        const float d = ck_fp16_to_fp32(x[b].d), m = ck_fp16_to_fp32(x[b].m);
        uint8_t q[CK_QK];
        q5_1_values(&x[b], q);
        for (int j = 0; j < CK_QK; j++) dst[j] = (float)q[j] * d + m;
    }
}

float ck__dot_q5_1_q8_1_ref(int64_t n, const void *w, const void *a) {
    const ck_block_q5_1 *x = w;
    const ck_block_q8_1 *y = a;
    float acc[8] = { 0 }, mins = 0.0f;
    for (int64_t b = 0; b < n / CK_QK; b++) {
        mins = fmaf(ck_fp16_to_fp32(x[b].m), ck_fp16_to_fp32(y[b].s), mins);
        const float d = ck_fp16_to_fp32(x[b].d) * ck_fp16_to_fp32(y[b].d);
        uint8_t q[CK_QK];
        q5_1_values(&x[b], q);
        for (int lane = 0; lane < 8; lane++) {
            int sum = 0;
            for (int k = 0; k < 4; k++) sum += q[4 * lane + k] * y[b].qs[4 * lane + k];
            acc[lane] = fmaf((float)sum, d, acc[lane]);
        }
    }
    return ck__hsum8_ref(acc) + mins;
}

#if defined(__x86_64__)
#include <immintrin.h>

/// A block's 32 quants as unsigned bytes.
CK_AVX2 static inline __m256i q5_1_bytes(const ck_block_q5_1 *x) { return ck__q5_unsigned_bytes(x->qs, x->qh); }

/// A block for the panel GEMM (ck_block32_gemm.c): its unsigned quants, scale and min.
CK_AVX2 void ck__block32_q5_1(const void *block, int8_t q[CK_QK], float *d, float *m) {
    const ck_block_q5_1 *x = block;
    _mm256_storeu_si256((__m256i *)q, q5_1_bytes(x));
    *d = _cvtsh_ss(x->d);
    *m = _cvtsh_ss(x->m);
}

CK_AVX2 float ck__dot_q5_1_q8_1_avx2(int64_t n, const void *w, const void *a) {
    const ck_block_q5_1 *x = w;
    const ck_block_q8_1 *y = a;
    __m256 acc = _mm256_setzero_ps();
    __m128 mins = _mm_setzero_ps();
    for (int64_t b = 0; b < n / CK_QK; b++) {
        mins = _mm_fmadd_ss(_mm_set_ss(_cvtsh_ss(x[b].m)), _mm_set_ss(_cvtsh_ss(y[b].s)), mins);
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(x[b].d) * _cvtsh_ss(y[b].d));
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        acc = _mm256_fmadd_ps(ck__dot_u8_s8(q5_1_bytes(&x[b]), qy), d, acc);
    }
    return ck__hsum8(acc) + _mm_cvtss_f32(mins);
}

CK_AVX2 void ck__dot4_q5_1_q8_1_avx2(int64_t n, const void *w, size_t w_stride, const void *a, float out[4]) {
    for (int r = 0; r < 4; r++) out[r] = ck__dot_q5_1_q8_1_avx2(n, (const uint8_t *)w + r * w_stride, a);
}

/// Four rows x two tokens (prefill), each (row, token) in exactly ck__dot_q5_1_q8_1_avx2's
/// order; a row's quants are expanded once for both tokens.
CK_AVX2 void ck__tile4x2_q5_1_q8_1_avx2(int64_t n, const void *w, size_t w_stride, const void *a0, const void *a1,
                                       float out0[4], float out1[4]) {
    const ck_block_q8_1 *y0 = a0, *y1 = a1;
    const ck_block_q5_1 *x[4];
    for (int r = 0; r < 4; r++) x[r] = (const ck_block_q5_1 *)((const uint8_t *)w + r * w_stride);
    __m256 c0[4], c1[4];
    __m128 m0[4], m1[4];
    for (int r = 0; r < 4; r++) {
        c0[r] = c1[r] = _mm256_setzero_ps();
        m0[r] = m1[r] = _mm_setzero_ps();
    }
    for (int64_t b = 0; b < n / CK_QK; b++) {
        const __m256i qy0 = _mm256_loadu_si256((const __m256i *)y0[b].qs), qy1 = _mm256_loadu_si256((const __m256i *)y1[b].qs);
        const float yd0 = _cvtsh_ss(y0[b].d), yd1 = _cvtsh_ss(y1[b].d);
        const __m128 ys0 = _mm_set_ss(_cvtsh_ss(y0[b].s)), ys1 = _mm_set_ss(_cvtsh_ss(y1[b].s));
        for (int r = 0; r < 4; r++) {
            const float xd = _cvtsh_ss(x[r][b].d);
            const __m128 xm = _mm_set_ss(_cvtsh_ss(x[r][b].m));
            m0[r] = _mm_fmadd_ss(xm, ys0, m0[r]);
            m1[r] = _mm_fmadd_ss(xm, ys1, m1[r]);
            const __m256i q = q5_1_bytes(&x[r][b]);
            c0[r] = _mm256_fmadd_ps(ck__dot_u8_s8(q, qy0), _mm256_set1_ps(xd * yd0), c0[r]);
            c1[r] = _mm256_fmadd_ps(ck__dot_u8_s8(q, qy1), _mm256_set1_ps(xd * yd1), c1[r]);
        }
    }
    for (int r = 0; r < 4; r++) {
        out0[r] = ck__hsum8(c0[r]) + _mm_cvtss_f32(m0[r]);
        out1[r] = ck__hsum8(c1[r]) + _mm_cvtss_f32(m1[r]);
    }
}
#else
void ck__block32_q5_1(const void *block, int8_t q[CK_QK], float *d, float *m) {
    q5_1_values(block, (uint8_t *)q);
    *d = ck_fp16_to_fp32(((const ck_block_q5_1 *)block)->d);
    *m = ck_fp16_to_fp32(((const ck_block_q5_1 *)block)->m);
}
float ck__dot_q5_1_q8_1_avx2(int64_t n, const void *w, const void *a) { return ck__dot_q5_1_q8_1_ref(n, w, a); }
void ck__dot4_q5_1_q8_1_avx2(int64_t n, const void *w, size_t s, const void *a, float out[4]) {
    for (int r = 0; r < 4; r++) out[r] = ck__dot_q5_1_q8_1_ref(n, (const uint8_t *)w + r * s, a);
}
#endif
