// Q5_K: super-blocks of 256 weights in 8 sub-blocks of 32 with 6-bit scales and mins, as Q4_K,
// plus a fifth bit per weight (ggml's block_q5_K, 176 bytes: f16 d, f16 dmin, 12 bytes of packed
// scales and mins, 32 bytes qh, 128 bytes of nibbles). Sub-block s = 2i + k takes the low
// (k = 0) or high (k = 1) nibbles of qs[32i ...] and bit s of qh[l] for element l;
// w = d * sc * q - dmin * m. Activations in Q8_K.
//
// The dot is llama.cpp's AVX2 order (ggml_vec_dot_q5_K_q8_K, used for single tokens and batches):
// per super-block 8 integer lanes, lane i = sum over sub-blocks of sc * (q . q8) of the
// sub-block's elements 4i..4i+3, in one FMA chain per lane with d * d8; the min term
// sum_j m_j * bsum_j of each super-block fused into a scalar chain with -dmin * d8; at the end
// the lanes summed as ck__hsum8 does, plus the min chain. The reference computes the same.
#include "ck_internal.h"

#include <math.h>

/// Element e (< 256) of a block as its unsigned 5-bit value.
static inline int q5_value(const ck_block_q5_K *x, int e) {
    const int s = e / 32, l = e % 32;
    const int low = (x->qs[32 * (s / 2) + l] >> (4 * (s % 2))) & 0x0f;
    return low | (((x->qh[l] >> s) & 1) << 4);
}

void ck__dequantize_row_q5_K(const void *src, float *dst, int64_t n) {
    const ck_block_q5_K *x = src;
    for (int64_t b = 0; b < n / CK_QK_K; b++) {
        const float d = ck_fp16_to_fp32(x[b].d), dmin = ck_fp16_to_fp32(x[b].dmin);
        int sc[8], m[8];
        ck__unpack_scales_k4(x[b].scales, sc, m);
        for (int e = 0; e < CK_QK_K; e++) {
            const float d1 = d * (float)sc[e / 32], m1 = dmin * (float)m[e / 32];
            *dst++ = d1 * (float)q5_value(&x[b], e) - m1;
        }
    }
}

void ck__unpack_q5_K(const void *block, ck_kblock *out) {
    const ck_block_q5_K *x = block;
    int sc[8], m[8];
    ck__unpack_scales_k4(x->scales, sc, m);
    for (int e = 0; e < CK_QK_K; e++) out->q[e] = (int8_t)q5_value(x, e);
    for (int c = 0; c < 16; c++) {
        out->sc[c] = (int16_t)sc[c / 2];
        out->m[c] = (int16_t)m[c / 2];
    }
    out->d = ck_fp16_to_fp32(x->d);
    out->dmin = ck_fp16_to_fp32(x->dmin);
}

float ck__dot_q5_K_q8_K_ref(int64_t n, const void *w, const void *a) {
    const ck_block_q5_K *x = w;
    const ck_block_q8_K *y = a;
    float acc[8] = { 0 }, mins = 0.0f;
    for (int64_t b = 0; b < n / CK_QK_K; b++) {
        const float d = y[b].d * ck_fp16_to_fp32(x[b].d), dmin = -y[b].d * ck_fp16_to_fp32(x[b].dmin);
        int sc[8], m[8];
        ck__unpack_scales_k4(x[b].scales, sc, m);
        int min_sum = 0;
        for (int j = 0; j < 8; j++) min_sum += m[j] * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
        mins = fmaf(dmin, (float)min_sum, mins);
        for (int lane = 0; lane < 8; lane++) {
            int sum = 0;
            for (int s = 0; s < 8; s++) {
                int dot = 0;
                for (int t = 0; t < 4; t++) dot += q5_value(&x[b], 32 * s + 4 * lane + t) * y[b].qs[32 * s + 4 * lane + t];
                sum += sc[s] * dot;
            }
            acc[lane] = fmaf(d, (float)sum, acc[lane]);
        }
    }
    return ck__hsum8_ref(acc) + mins;
}

#if defined(__x86_64__)
#include <immintrin.h>

/// The 8 integer lanes of one super-block.
CK_AVX2 static inline __m256i q5_K_lanes(const ck_block_q5_K *x, const ck_block_q8_K *y, const int sc[8]) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
    const __m256i hbits = _mm256_loadu_si256((const __m256i *)x->qh);
    __m256i sum = _mm256_setzero_si256();
    for (int i = 0; i < 4; i++) {
        const __m256i bits = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * i));
        const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * i), one), 4);
        const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * i + 1), one), 4);
        const __m256i q0 = _mm256_or_si256(_mm256_and_si256(bits, m4), h0);
        const __m256i q1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), h1);
        const __m256i p0 = _mm256_maddubs_epi16(q0, _mm256_loadu_si256((const __m256i *)(y->qs + 64 * i)));
        const __m256i p1 = _mm256_maddubs_epi16(q1, _mm256_loadu_si256((const __m256i *)(y->qs + 64 * i + 32)));
        sum = _mm256_add_epi32(sum, _mm256_add_epi32(_mm256_madd_epi16(p0, _mm256_set1_epi16((short)sc[2 * i])),
                                                     _mm256_madd_epi16(p1, _mm256_set1_epi16((short)sc[2 * i + 1]))));
    }
    return sum;
}

/// One super-block into the row's 8 lanes and its min chain.
CK_AVX2 static inline void q5_K_step(const ck_block_q5_K *x, const ck_block_q8_K *y, __m256 *acc, __m128 *mins) {
    int sc[8], m[8];
    ck__unpack_scales_k4(x->scales, sc, m);
    int min_sum = 0;
    for (int j = 0; j < 8; j++) min_sum += m[j] * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    const float dmin = -y->d * _cvtsh_ss(x->dmin);
    *mins = _mm_fmadd_ss(_mm_set_ss(dmin), _mm_set_ss((float)min_sum), *mins);
    const __m256 d = _mm256_set1_ps(y->d * _cvtsh_ss(x->d));
    *acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q5_K_lanes(x, y, sc)), *acc);
}

CK_AVX2 float ck__dot_q5_K_q8_K_avx2(int64_t n, const void *w, const void *a) {
    const ck_block_q5_K *x = w;
    const ck_block_q8_K *y = a;
    __m256 acc = _mm256_setzero_ps();
    __m128 mins = _mm_setzero_ps();
    for (int64_t b = 0; b < n / CK_QK_K; b++) q5_K_step(&x[b], &y[b], &acc, &mins);
    return ck__hsum8(acc) + _mm_cvtss_f32(mins);
}

/// Four rows, each exactly the single-row dot: row r's block b at w + r * row_stride +
/// b * block_stride (GGUF rows: the row size and the block size; packed four-row groups: the
/// block size and four of them, ck_packed.c).
CK_AVX2 void ck__dot4_q5_K_q8_K_avx2(int64_t n, const void *w, size_t row_stride, size_t block_stride, const void *a, float out[4]) {
    const ck_block_q8_K *y = a;
    __m256 acc[4];
    __m128 mins[4];
    for (int r = 0; r < 4; r++) {
        acc[r] = _mm256_setzero_ps();
        mins[r] = _mm_setzero_ps();
    }
    for (int64_t b = 0; b < n / CK_QK_K; b++) {
        for (int r = 0; r < 4; r++) {
            const ck_block_q5_K *x = (const ck_block_q5_K *)((const uint8_t *)w + (size_t)r * row_stride + (size_t)b * block_stride);
            q5_K_step(x, &y[b], &acc[r], &mins[r]);
        }
    }
    for (int r = 0; r < 4; r++) out[r] = ck__hsum8(acc[r]) + _mm_cvtss_f32(mins[r]);
}
#else
float ck__dot_q5_K_q8_K_avx2(int64_t n, const void *w, const void *a) { return ck__dot_q5_K_q8_K_ref(n, w, a); }
#endif
