// Q5_0: blocks of 32 weights, w = d * (q - 16) with q of 5 bits: the low 4 in nibbles (element j
// in byte j's low nibble, element j + 16 in its high nibble) and the fifth in the 32-bit qh
// (bit j for element j). ggml's block_q5_0 (22 bytes); activations in Q8_0.
//
// The dot is llama.cpp's AVX2 order (ggml_vec_dot_q5_0_q8_0; its prefill, tinyBLAS, does the
// same per output): per block, 8 lanes each holding the exact integer dot of 4 consecutive
// elements, scaled by d_x * d_y into one FMA chain per lane, the lanes summed at the end
// ((0+4)+(2+6))+((1+5)+(3+7)). The scalar reference computes the same lanes, so both agree
// bit for bit.
#include "ck_internal.h"

#include <math.h>
#include <string.h>

/// The 32 quants of a block, each minus 16, in element order.
static void q5_0_values(const ck_block_q5_0 *x, int8_t q[CK_QK]) {
    uint32_t qh;
    memcpy(&qh, x->qh, 4);
    for (int j = 0; j < CK_QK / 2; j++) {
        q[j] = (int8_t)(((x->qs[j] & 0x0f) | (((qh >> j) & 1) << 4)) - 16);
        q[j + 16] = (int8_t)(((x->qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16);
    }
}

void ck__dequantize_row_q5_0(const void *src, float *dst, int64_t n) {
    const ck_block_q5_0 *x = src;
    for (int64_t b = 0; b < n / CK_QK; b++, dst += CK_QK) {
        const float d = ck_fp16_to_fp32(x[b].d);
        int8_t q[CK_QK];
        q5_0_values(&x[b], q);
        for (int j = 0; j < CK_QK; j++) dst[j] = (float)q[j] * d;
    }
}

float ck__dot_q5_0_q8_0_ref(int64_t n, const void *w, const void *a) {
    const ck_block_q5_0 *x = w;
    const ck_block_q8_0 *y = a;
    float acc[8] = { 0 };
    for (int64_t b = 0; b < n / CK_QK; b++) {
        const float d = ck_fp16_to_fp32(x[b].d) * ck_fp16_to_fp32(y[b].d);
        int8_t q[CK_QK];
        q5_0_values(&x[b], q);
        for (int lane = 0; lane < 8; lane++) {
            int sum = 0;
            for (int k = 0; k < 4; k++) sum += q[4 * lane + k] * y[b].qs[4 * lane + k];
            acc[lane] = fmaf(d, (float)sum, acc[lane]);
        }
    }
    return ck__hsum8_ref(acc);
}

#if defined(__x86_64__)
#include <immintrin.h>

/// A block's 32 quants minus 16 as signed bytes: nibbles, with 0xF0 or-ed in where the fifth
/// bit is clear (q - 16 in two's complement).
CK_AVX2 static inline __m256i q5_0_bytes(const ck_block_q5_0 *x) {
    const __m128i packed = _mm_loadu_si128((const __m128i *)x->qs);
    const __m256i nibbles = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(0x0f));
    return _mm256_or_si256(nibbles, _mm256_andnot_si256(ck__bit_mask_32(x->qh), _mm256_set1_epi8((char)0xf0)));
}

/// A block for the panel GEMM (ck_block32_gemm.c): its quants minus 16 and its scale.
CK_AVX2 void ck__block32_q5_0(const void *block, int8_t q[CK_QK], float *d, float *m) {
    const ck_block_q5_0 *x = block;
    _mm256_storeu_si256((__m256i *)q, q5_0_bytes(x));
    *d = _cvtsh_ss(x->d);
    *m = 0.0f;
}

CK_AVX2 float ck__dot_q5_0_q8_0_avx2(int64_t n, const void *w, const void *a) {
    const ck_block_q5_0 *x = w;
    const ck_block_q8_0 *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / CK_QK; b++) {
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(x[b].d) * _cvtsh_ss(y[b].d));
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        acc = _mm256_fmadd_ps(d, ck__dot_s8_s8(q5_0_bytes(&x[b]), qy), acc);
    }
    return ck__hsum8(acc);
}

/// Four rows (w_stride bytes apart), each in exactly ck__dot_q5_0_q8_0_avx2's order. The same
/// exact lane sums come from the unsigned quants (q, without the - 16): sum q * y - 16 * sum y, with the activations'
/// sums formed once per block for the four rows (no sign trick per row).
CK_AVX2 void ck__dot4_q5_0_q8_0_avx2(int64_t n, const void *w, size_t w_stride, const void *a, float out[4]) {
    const ck_block_q8_0 *y = a;
    const ck_block_q5_0 *x[4];
    for (int r = 0; r < 4; r++) x[r] = (const ck_block_q5_0 *)((const uint8_t *)w + r * w_stride);
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    for (int64_t b = 0; b < n / CK_QK; b++) {
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        const __m256i y16 = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(ones8, qy), ones16), 4);
        const float yd = _cvtsh_ss(y[b].d);
        for (int r = 0; r < 4; r++) {
            const __m256 d = _mm256_set1_ps(_cvtsh_ss(x[r][b].d) * yd);
            const __m256i qa = _mm256_madd_epi16(_mm256_maddubs_epi16(ck__q5_unsigned_bytes(x[r][b].qs, x[r][b].qh), qy), ones16);
            acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(qa, y16)), acc[r]);
        }
    }
    for (int r = 0; r < 4; r++) out[r] = ck__hsum8(acc[r]);
}

/// Four rows x two tokens (prefill), each (row, token) in exactly ck__dot_q5_0_q8_0_avx2's
/// order; a row's quants are expanded once for both tokens.
CK_AVX2 void ck__tile4x2_q5_0_q8_0_avx2(int64_t n, const void *w, size_t w_stride, const void *a0, const void *a1,
                                       float out0[4], float out1[4]) {
    const ck_block_q8_0 *y0 = a0, *y1 = a1;
    const ck_block_q5_0 *x[4];
    for (int r = 0; r < 4; r++) x[r] = (const ck_block_q5_0 *)((const uint8_t *)w + r * w_stride);
    __m256 c0[4], c1[4];
    for (int r = 0; r < 4; r++) c0[r] = c1[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / CK_QK; b++) {
        const __m256i qy0 = _mm256_loadu_si256((const __m256i *)y0[b].qs), qy1 = _mm256_loadu_si256((const __m256i *)y1[b].qs);
        const float yd0 = _cvtsh_ss(y0[b].d), yd1 = _cvtsh_ss(y1[b].d);
        for (int r = 0; r < 4; r++) {
            const float xd = _cvtsh_ss(x[r][b].d);
            const __m256i q = q5_0_bytes(&x[r][b]), aq = _mm256_sign_epi8(q, q);
            c0[r] = _mm256_fmadd_ps(_mm256_set1_ps(xd * yd0), ck__dot_u8_s8(aq, _mm256_sign_epi8(qy0, q)), c0[r]);
            c1[r] = _mm256_fmadd_ps(_mm256_set1_ps(xd * yd1), ck__dot_u8_s8(aq, _mm256_sign_epi8(qy1, q)), c1[r]);
        }
    }
    for (int r = 0; r < 4; r++) {
        out0[r] = ck__hsum8(c0[r]);
        out1[r] = ck__hsum8(c1[r]);
    }
}
#else
void ck__block32_q5_0(const void *block, int8_t q[CK_QK], float *d, float *m) {
    q5_0_values(block, q);
    *d = ck_fp16_to_fp32(((const ck_block_q5_0 *)block)->d);
    *m = 0.0f;
}
float ck__dot_q5_0_q8_0_avx2(int64_t n, const void *w, const void *a) { return ck__dot_q5_0_q8_0_ref(n, w, a); }
void ck__dot4_q5_0_q8_0_avx2(int64_t n, const void *w, size_t s, const void *a, float out[4]) {
    for (int r = 0; r < 4; r++) out[r] = ck__dot_q5_0_q8_0_ref(n, (const uint8_t *)w + r * s, a);
}
#endif
