// IQ4_NL: blocks of 32 weights, each a 4-bit index into llama.cpp's non-linear table
// kvalues_iq4nl (ck__iq4nl_table), with an f16 scale (ggml's block_iq4_nl, 18 bytes: element j
// in byte j's low nibble, j + 16 in its high nibble); w = d * table[q]. Activations in Q8_0.
// K-quant mixes use it for the matrices whose rows are not a multiple of 256 long.
//
// The dot follows llama.cpp's path on AVX2: it repacks IQ4_NL matrices (row counts that are
// multiples of 8) into 8-row groups (ggml_gemv/gemm_iq4_nl_8x8_q8_0), where every output is,
// per block, the exact integer dot (table[q] . q8) converted to f32 and accumulated in one FMA
// chain with d_x * d_y.
#include "ck_internal.h"

#include <math.h>

void ck__dequantize_row_iq4_nl(const void *src, float *dst, int64_t n) {
    const ck_block_iq4_nl *x = src;
    for (int64_t b = 0; b < n / CK_QK; b++, dst += CK_QK) {
        const float d = ck_fp16_to_fp32(x[b].d);
        for (int j = 0; j < CK_QK / 2; j++) {
            dst[j] = d * (float)ck__iq4nl_table[x[b].qs[j] & 0x0f];
            dst[j + 16] = d * (float)ck__iq4nl_table[x[b].qs[j] >> 4];
        }
    }
}

float ck__dot_iq4_nl_q8_0_ref(int64_t n, const void *w, const void *a) {
    const ck_block_iq4_nl *x = w;
    const ck_block_q8_0 *y = a;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / CK_QK; b++) {
        int sum = 0;
        for (int j = 0; j < CK_QK / 2; j++) {
            sum += ck__iq4nl_table[x[b].qs[j] & 0x0f] * y[b].qs[j] + ck__iq4nl_table[x[b].qs[j] >> 4] * y[b].qs[j + 16];
        }
        acc = fmaf((float)sum, ck_fp16_to_fp32(x[b].d) * ck_fp16_to_fp32(y[b].d), acc);
    }
    return acc;
}

#if defined(__x86_64__)
#include <immintrin.h>

/// The integer dot of one block: table lookups, then s8 x s8 pairs (|table| <= 127 fits).
CK_AVX2 static inline __m256i iq4_nl_lanes(const ck_block_iq4_nl *x, const ck_block_q8_0 *y, __m128i table) {
    const __m128i m4 = _mm_set1_epi8(0x0f);
    const __m128i bits = _mm_loadu_si128((const __m128i *)x->qs);
    const __m256i q = _mm256_set_m128i(_mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(bits, 4), m4)),
                                       _mm_shuffle_epi8(table, _mm_and_si128(bits, m4)));
    const __m256i qy = _mm256_loadu_si256((const __m256i *)y->qs);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(qy, q)), _mm256_set1_epi16(1));
}

CK_AVX2 static inline int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

CK_AVX2 float ck__dot_iq4_nl_q8_0_avx2(int64_t n, const void *w, const void *a) {
    const ck_block_iq4_nl *x = w;
    const ck_block_q8_0 *y = a;
    const __m128i table = _mm_loadu_si128((const __m128i *)ck__iq4nl_table);
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < n / CK_QK; b++) {
        const int sum = hsum_i32(iq4_nl_lanes(&x[b], &y[b], table));
        acc = _mm_fmadd_ss(_mm_set_ss((float)sum), _mm_set_ss(_cvtsh_ss(x[b].d) * _cvtsh_ss(y[b].d)), acc);
    }
    return _mm_cvtss_f32(acc);
}

/// Four rows (w_stride bytes apart): the four block sums reduced together, then each row's chain
/// as in ck__dot_iq4_nl_q8_0_avx2.
CK_AVX2 void ck__dot4_iq4_nl_q8_0_avx2(int64_t n, const void *w, size_t w_stride, const void *a, float out[4]) {
    const ck_block_q8_0 *y = a;
    const ck_block_iq4_nl *x[4];
    for (int r = 0; r < 4; r++) x[r] = (const ck_block_iq4_nl *)((const uint8_t *)w + r * w_stride);
    const __m128i table = _mm_loadu_si128((const __m128i *)ck__iq4nl_table);
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < n / CK_QK; b++) {
        const __m128i sums = ck__hsum4_i32(iq4_nl_lanes(&x[0][b], &y[b], table), iq4_nl_lanes(&x[1][b], &y[b], table),
                                           iq4_nl_lanes(&x[2][b], &y[b], table), iq4_nl_lanes(&x[3][b], &y[b], table));
        const uint16_t d[4] = { x[0][b].d, x[1][b].d, x[2][b].d, x[3][b].d };
        const __m128 dx = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)d));
        acc = _mm_fmadd_ps(_mm_cvtepi32_ps(sums), _mm_mul_ps(dx, _mm_set1_ps(_cvtsh_ss(y[b].d))), acc);
    }
    _mm_storeu_ps(out, acc);
}
#else
float ck__dot_iq4_nl_q8_0_avx2(int64_t n, const void *w, const void *a) { return ck__dot_iq4_nl_q8_0_ref(n, w, a); }
void ck__dot4_iq4_nl_q8_0_avx2(int64_t n, const void *w, size_t s, const void *a, float out[4]) {
    for (int r = 0; r < 4; r++) out[r] = ck__dot_iq4_nl_q8_0_ref(n, (const uint8_t *)w + r * s, a);
}
#endif
