// Q3_K: super-blocks of 256 weights, 16 groups of 16 with a 6-bit scale each (ggml's block_q3_K,
// 110 bytes: 32 bytes hmask, 64 bytes of low 2 bits, 12 bytes of packed scales, f16 d). Element
// l (< 32) of quarter k of half h: low bits 2k, 2k+1 of qs[32h + l], high bit 4h + k of
// hmask[l]; q = low - 4 when that bit is clear; group 8h + 2k (+1 for l >= 16);
// w = d * (sc - 32) * q. Activations in Q8_K.
//
// The dot is llama.cpp's AVX2 order (ggml_vec_dot_q3_K_q8_K): per super-block 8 integer lanes
// laid out as Q6_K's (lane i: elements 4i..4i+3 of each run of 32), one FMA chain per lane with
// d * d8, summed at the end as ck__hsum8 does.
#include "ck_internal.h"

#include <math.h>
#include <string.h>

/// The 16 group scales (6 bits, minus 32), unpacked as ggml's dequantize_row_q3_K does.
static void q3_scales(const ck_block_q3_K *x, int sc[16]) {
    uint32_t aux[4];
    memcpy(aux, x->scales, 12);
    const uint32_t tmp = aux[2], m2 = 0x0f0f0f0f, m1 = 0x03030303;
    aux[2] = ((aux[0] >> 4) & m2) | (((tmp >> 4) & m1) << 4);
    aux[3] = ((aux[1] >> 4) & m2) | (((tmp >> 6) & m1) << 4);
    aux[0] = (aux[0] & m2) | (((tmp >> 0) & m1) << 4);
    aux[1] = (aux[1] & m2) | (((tmp >> 2) & m1) << 4);
    const int8_t *s = (const int8_t *)aux;
    for (int g = 0; g < 16; g++) sc[g] = s[g] - 32;
}

/// Element e (< 256) of a block: its signed 3-bit quant.
static inline int q3_value(const ck_block_q3_K *x, int e) {
    const int h = e / 128, k = (e % 128) / 32, l = e % 32;
    const int low = (x->qs[32 * h + l] >> (2 * k)) & 3;
    return low - ((x->hmask[l] >> (4 * h + k)) & 1 ? 0 : 4);
}

void ck__dequantize_row_q3_K(const void *src, float *dst, int64_t n) {
    const ck_block_q3_K *x = src;
    for (int64_t b = 0; b < n / CK_QK_K; b++) {
        const float d = ck_fp16_to_fp32(x[b].d);
        int sc[16];
        q3_scales(&x[b], sc);
        for (int e = 0; e < CK_QK_K; e++) *dst++ = d * (float)sc[e / 16] * (float)q3_value(&x[b], e);
    }
}

void ck__unpack_q3_K(const void *block, ck_kblock *out) {
    const ck_block_q3_K *x = block;
    int sc[16];
    q3_scales(x, sc);
    for (int e = 0; e < CK_QK_K; e++) out->q[e] = (int8_t)q3_value(x, e);
    for (int c = 0; c < 16; c++) {
        out->sc[c] = (int16_t)sc[c];
        out->m[c] = 0;
    }
    out->d = ck_fp16_to_fp32(x->d);
    out->dmin = 0.0f;
}

float ck__dot_q3_K_q8_K_ref(int64_t n, const void *w, const void *a) {
    const ck_block_q3_K *x = w;
    const ck_block_q8_K *y = a;
    float acc[8] = { 0 };
    for (int64_t b = 0; b < n / CK_QK_K; b++) {
        const float d = y[b].d * ck_fp16_to_fp32(x[b].d);
        int sc[16];
        q3_scales(&x[b], sc);
        for (int lane = 0; lane < 8; lane++) {
            int sum = 0;
            for (int run = 0; run < 8; run++) {
                const int h = run / 4, k = run % 4;
                int dot = 0;
                for (int t = 0; t < 4; t++) {
                    const int e = 128 * h + 32 * k + 4 * lane + t;
                    dot += q3_value(&x[b], e) * y[b].qs[e];
                }
                sum += sc[8 * h + 2 * k + (lane >= 4)] * dot;
            }
            acc[lane] = fmaf(d, (float)sum, acc[lane]);
        }
    }
    return ck__hsum8_ref(acc);
}

#if defined(__x86_64__)
#include <immintrin.h>

/// One super-block into the row's 8 lanes.
CK_AVX2 static inline void q3_K_step(const ck_block_q3_K *x, const ck_block_q8_K *y, __m256 *acc) {
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    int sc[16];
    q3_scales(x, sc);
    const __m256i hbits = _mm256_loadu_si256((const __m256i *)x->hmask);
    __m256i sum = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        const __m256i bits = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * h));
        for (int k = 0; k < 4; k++) {
            const int g = 8 * h + 2 * k, bit = 4 * h + k;
            const __m256i low = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3);
            // 4 where the high bit is clear: q = low - that, as two u8 x s8 products.
            const __m256i clear = _mm256_slli_epi16(_mm256_andnot_si256(_mm256_and_si256(_mm256_srli_epi16(hbits, bit), one), one), 2);
            const __m256i qy = _mm256_loadu_si256((const __m256i *)(y->qs + 128 * h + 32 * k));
            const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(low, qy), _mm256_maddubs_epi16(clear, qy));
            const __m256i s = _mm256_set_m128i(_mm_set1_epi16((short)sc[g + 1]), _mm_set1_epi16((short)sc[g]));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(s, p));
        }
    }
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(y->d * _cvtsh_ss(x->d)), _mm256_cvtepi32_ps(sum), *acc);
}

CK_AVX2 float ck__dot_q3_K_q8_K_avx2(int64_t n, const void *w, const void *a) {
    const ck_block_q3_K *x = w;
    const ck_block_q8_K *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / CK_QK_K; b++) q3_K_step(&x[b], &y[b], &acc);
    return ck__hsum8(acc);
}

/// Four rows, each exactly the single-row dot: row r's block b at w + r * row_stride +
/// b * block_stride (GGUF rows: the row size and the block size; packed four-row groups: the
/// block size and four of them, ck_packed.c).
CK_AVX2 void ck__dot4_q3_K_q8_K_avx2(int64_t n, const void *w, size_t row_stride, size_t block_stride, const void *a, float out[4]) {
    const ck_block_q8_K *y = a;
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    for (int64_t b = 0; b < n / CK_QK_K; b++) {
        for (int r = 0; r < 4; r++) {
            const ck_block_q3_K *x = (const ck_block_q3_K *)((const uint8_t *)w + (size_t)r * row_stride + (size_t)b * block_stride);
            q3_K_step(x, &y[b], &acc[r]);
        }
    }
    for (int r = 0; r < 4; r++) out[r] = ck__hsum8(acc[r]);
}
#else
float ck__dot_q3_K_q8_K_avx2(int64_t n, const void *w, const void *a) { return ck__dot_q3_K_q8_K_ref(n, w, a); }
#endif
