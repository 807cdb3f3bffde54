// Q4_K: super-blocks of 256 weights in 8 sub-blocks of 32, each with a 6-bit scale and a 6-bit
// min (ggml's block_q4_K, 144 bytes: f16 d, f16 dmin, 12 bytes of packed scales and mins, 128
// bytes of nibbles; sub-blocks 2i and 2i+1 share bytes 32i..32i+31, low and high nibbles);
// w = d * sc * q - dmin * m. Activations in Q8_K.
//
// The dot follows llama.cpp's path for these matrices on AVX2: it repacks Q4_K weights (row
// counts that are multiples of 8) into 8-row groups (ggml_gemv/gemm_q4_K_8x8_q8_K), where every
// output is, per super-block, the exact integer sums S = sum_j sc_j * (q . q8)_j and
// M = sum_j m_j * bsum_j, converted to f32 and accumulated in two FMA chains (with d * d8 and
// dmin * d8), the min chain subtracted at the end. Its single-token and batch kernels give the
// same bits, and so does every path here.
#include "ck_internal.h"

#include <math.h>

/// Sub-block j's 6-bit scale and min (ggml's get_scale_min_k4).
static inline void scale_min(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

void ck__unpack_scales_k4(const uint8_t scales[12], int sc[8], int m[8]) {
    for (int j = 0; j < 8; j++) scale_min(j, scales, &sc[j], &m[j]);
}

void ck__dequantize_row_q4_K(const void *src, float *dst, int64_t n) {
    const ck_block_q4_K *x = src;
    for (int64_t b = 0; b < n / CK_QK_K; b++) {
        const float d = ck_fp16_to_fp32(x[b].d), dmin = ck_fp16_to_fp32(x[b].dmin);
        int sc[8], m[8];
        ck__unpack_scales_k4(x[b].scales, sc, m);
        for (int j = 0; j < 8; j++) {
            const float d1 = d * (float)sc[j], m1 = dmin * (float)m[j];
            const uint8_t *q = x[b].qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++) *dst++ = d1 * (float)((q[l] >> shift) & 0x0f) - m1;
        }
    }
}

void ck__unpack_q4_K(const void *block, ck_kblock *out) {
    const ck_block_q4_K *x = block;
    int sc[8], m[8];
    ck__unpack_scales_k4(x->scales, sc, m);
    for (int e = 0; e < CK_QK_K; e++) {
        const int j = e / 32;
        out->q[e] = (int8_t)((x->qs[32 * (j / 2) + e % 32] >> (4 * (j % 2))) & 0x0f);
    }
    for (int c = 0; c < 16; c++) {
        out->sc[c] = (int16_t)sc[c / 2];
        out->m[c] = (int16_t)m[c / 2];
    }
    out->d = ck_fp16_to_fp32(x->d);
    out->dmin = ck_fp16_to_fp32(x->dmin);
}

float ck__dot_q4_K_q8_K_ref(int64_t n, const void *w, const void *a) {
    const ck_block_q4_K *x = w;
    const ck_block_q8_K *y = a;
    float acc = 0.0f, acc_min = 0.0f;
    for (int64_t b = 0; b < n / CK_QK_K; b++) {
        int sc[8], m[8];
        ck__unpack_scales_k4(x[b].scales, sc, m);
        int sum = 0, mins = 0;
        for (int j = 0; j < 8; j++) {
            const uint8_t *q = x[b].qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            int dot = 0;
            for (int l = 0; l < 32; l++) dot += ((q[l] >> shift) & 0x0f) * y[b].qs[32 * j + l];
            sum += sc[j] * dot;
            mins += m[j] * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
        }
        acc = fmaf((float)sum, ck_fp16_to_fp32(x[b].d) * y[b].d, acc);
        acc_min = fmaf((float)mins, ck_fp16_to_fp32(x[b].dmin) * y[b].d, acc_min);
    }
    return acc - acc_min;
}

#if defined(__x86_64__)
#include <immintrin.h>

CK_AVX2 static inline int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/// The min term M of one super-block (sub-block j's min times the sum of its 32 activations).
static inline int q4_K_mins(const int m[8], const ck_block_q8_K *y) {
    int mins = 0;
    for (int j = 0; j < 8; j++) mins += m[j] * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    return mins;
}

/// S of one super-block: each pair of sub-blocks from one 32-byte load of nibbles. u4 x s8
/// pairs fit in 16 bits; madd with the sub-block's scale widens them to 32.
CK_AVX2 static inline int q4_K_sum(const ck_block_q4_K *x, const ck_block_q8_K *y, const int sc[8]) {
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256i sum = _mm256_setzero_si256();
    for (int i = 0; i < 4; i++) {
        const __m256i bits = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * i));
        const __m256i lo = _mm256_and_si256(bits, low), hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), low);
        const __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(y->qs + 64 * i)));
        const __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y->qs + 64 * i + 32)));
        sum = _mm256_add_epi32(sum, _mm256_add_epi32(_mm256_madd_epi16(p0, _mm256_set1_epi16((short)sc[2 * i])),
                                                     _mm256_madd_epi16(p1, _mm256_set1_epi16((short)sc[2 * i + 1]))));
    }
    return hsum_i32(sum);
}

/// One super-block into the row's two chains (S with d * d8, M with dmin * d8).
CK_AVX2 static inline void q4_K_step(const ck_block_q4_K *x, const ck_block_q8_K *y, __m128 *acc, __m128 *acc_min) {
    int sc[8], m[8];
    ck__unpack_scales_k4(x->scales, sc, m);
    const int sum = q4_K_sum(x, y, sc), mins = q4_K_mins(m, y);
    *acc = _mm_fmadd_ss(_mm_set_ss((float)sum), _mm_set_ss(_cvtsh_ss(x->d) * y->d), *acc);
    *acc_min = _mm_fmadd_ss(_mm_set_ss((float)mins), _mm_set_ss(_cvtsh_ss(x->dmin) * y->d), *acc_min);
}

CK_AVX2 float ck__dot_q4_K_q8_K_avx2(int64_t n, const void *w, const void *a) {
    const ck_block_q4_K *x = w;
    const ck_block_q8_K *y = a;
    __m128 acc = _mm_setzero_ps(), acc_min = _mm_setzero_ps();
    for (int64_t b = 0; b < n / CK_QK_K; b++) q4_K_step(&x[b], &y[b], &acc, &acc_min);
    return _mm_cvtss_f32(_mm_sub_ss(acc, acc_min));
}

/// Four rows, each exactly the single-row dot: row r's block b at w + r * row_stride +
/// b * block_stride (GGUF rows: the row size and the block size; packed four-row groups: the
/// block size and four of them, ck_packed.c).
CK_AVX2 void ck__dot4_q4_K_q8_K_avx2(int64_t n, const void *w, size_t row_stride, size_t block_stride, const void *a, float out[4]) {
    const ck_block_q8_K *y = a;
    __m128 acc[4], acc_min[4];
    for (int r = 0; r < 4; r++) acc[r] = acc_min[r] = _mm_setzero_ps();
    for (int64_t b = 0; b < n / CK_QK_K; b++) {
        for (int r = 0; r < 4; r++) {
            const ck_block_q4_K *x = (const ck_block_q4_K *)((const uint8_t *)w + (size_t)r * row_stride + (size_t)b * block_stride);
            q4_K_step(x, &y[b], &acc[r], &acc_min[r]);
        }
    }
    for (int r = 0; r < 4; r++) out[r] = _mm_cvtss_f32(_mm_sub_ss(acc[r], acc_min[r]));
}
#else
float ck__dot_q4_K_q8_K_avx2(int64_t n, const void *w, const void *a) { return ck__dot_q4_K_q8_K_ref(n, w, a); }
#endif
