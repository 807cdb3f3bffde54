// Q2_K: super-blocks of 256 weights, 16 groups of 16 with a 4-bit scale and a 4-bit min each
// (ggml's block_q2_K, 84 bytes: 16 scale/min bytes, 64 bytes of 2-bit quants, f16 d, f16 dmin).
// Element l (< 32) of quarter k of half h sits in bits 2k, 2k+1 of qs[32h + l], group 8h + 2k
// (+1 for l >= 16); w = d * sc * q - dmin * m. Activations in Q8_K.
//
// The dot is llama.cpp's AVX2 order (ggml_vec_dot_q2_K_q8_K): per super-block and lane i of
// 8, first the min term m_2i * bsum_2i + m_2i+1 * bsum_2i+1 fused into the lane's chain with
// -dmin * d8, then the integer sum of sc * (q . q8) over the lane's elements (4i..4i+3 of
// each run of 32, as for Q6_K) fused with d * d8; the lanes summed at the end as ck__hsum8 does.
#include "ck_internal.h"

#include <math.h>

/// Element e (< 256) of a block: its 2-bit quant.
static inline int q2_value(const ck_block_q2_K *x, int e) {
    const int h = e / 128, k = (e % 128) / 32, l = e % 32;
    return (x->qs[32 * h + l] >> (2 * k)) & 3;
}

void ck__dequantize_row_q2_K(const void *src, float *dst, int64_t n) {
    const ck_block_q2_K *x = src;
    for (int64_t b = 0; b < n / CK_QK_K; b++) {
        const float d = ck_fp16_to_fp32(x[b].d), dmin = ck_fp16_to_fp32(x[b].dmin);
        for (int e = 0; e < CK_QK_K; e++) {
            const int g = e / 16;
            const float dl = d * (float)(x[b].scales[g] & 0x0f), ml = dmin * (float)(x[b].scales[g] >> 4);
            *dst++ = dl * (float)q2_value(&x[b], e) - ml;
        }
    }
}

void ck__unpack_q2_K(const void *block, ck_kblock *out) {
    const ck_block_q2_K *x = block;
    for (int e = 0; e < CK_QK_K; e++) out->q[e] = (int8_t)q2_value(x, e);
    for (int c = 0; c < 16; c++) {
        out->sc[c] = x->scales[c] & 0x0f;
        out->m[c] = x->scales[c] >> 4;
    }
    out->d = ck_fp16_to_fp32(x->d);
    out->dmin = ck_fp16_to_fp32(x->dmin);
}

float ck__dot_q2_K_q8_K_ref(int64_t n, const void *w, const void *a) {
    const ck_block_q2_K *x = w;
    const ck_block_q8_K *y = a;
    float acc[8] = { 0 };
    for (int64_t b = 0; b < n / CK_QK_K; b++) {
        const float d = y[b].d * ck_fp16_to_fp32(x[b].d), dmin = -y[b].d * ck_fp16_to_fp32(x[b].dmin);
        const uint8_t *sc = x[b].scales;
        for (int lane = 0; lane < 8; lane++) {
            const int mins = (sc[2 * lane] >> 4) * y[b].bsums[2 * lane] + (sc[2 * lane + 1] >> 4) * y[b].bsums[2 * lane + 1];
            acc[lane] = fmaf(dmin, (float)mins, acc[lane]);
            int sum = 0;
            for (int run = 0; run < 8; run++) {
                const int h = run / 4, k = run % 4;
                int dot = 0;
                for (int t = 0; t < 4; t++) {
                    const int e = 128 * h + 32 * k + 4 * lane + t;
                    dot += q2_value(&x[b], e) * y[b].qs[e];
                }
                sum += (sc[8 * h + 2 * k + (lane >= 4)] & 0x0f) * dot;
            }
            acc[lane] = fmaf(d, (float)sum, acc[lane]);
        }
    }
    return ck__hsum8_ref(acc);
}

#if defined(__x86_64__)
#include <immintrin.h>

/// One super-block into the row's 8 lanes: the min term's FMA, then the scaled quants'.
CK_AVX2 static inline void q2_K_step(const ck_block_q2_K *x, const ck_block_q8_K *y, __m256 *acc) {
    const __m256i m3 = _mm256_set1_epi8(3);
    const float d = y->d * _cvtsh_ss(x->d), dmin = -y->d * _cvtsh_ss(x->dmin);
    const __m128i packed = _mm_loadu_si128((const __m128i *)x->scales);
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0f)));
    const __m256i min_lanes = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)y->bsums));
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(min_lanes), *acc);
    __m256i sum = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        const __m256i bits = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * h));
        for (int k = 0; k < 4; k++) {
            const int g = 8 * h + 2 * k;
            const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3);
            const __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)(y->qs + 128 * h + 32 * k)));
            const __m256i sc = _mm256_set_m128i(_mm_set1_epi16(x->scales[g + 1] & 0x0f), _mm_set1_epi16(x->scales[g] & 0x0f));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(sc, p));
        }
    }
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sum), *acc);
}

CK_AVX2 float ck__dot_q2_K_q8_K_avx2(int64_t n, const void *w, const void *a) {
    const ck_block_q2_K *x = w;
    const ck_block_q8_K *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / CK_QK_K; b++) q2_K_step(&x[b], &y[b], &acc);
    return ck__hsum8(acc);
}

/// Four rows, each exactly the single-row dot: row r's block b at w + r * row_stride +
/// b * block_stride (GGUF rows: the row size and the block size; packed four-row groups: the
/// block size and four of them, ck_packed.c).
CK_AVX2 void ck__dot4_q2_K_q8_K_avx2(int64_t n, const void *w, size_t row_stride, size_t block_stride, const void *a, float out[4]) {
    const ck_block_q8_K *y = a;
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    for (int64_t b = 0; b < n / CK_QK_K; b++) {
        for (int r = 0; r < 4; r++) {
            const ck_block_q2_K *x = (const ck_block_q2_K *)((const uint8_t *)w + (size_t)r * row_stride + (size_t)b * block_stride);
            q2_K_step(x, &y[b], &acc[r]);
        }
    }
    for (int r = 0; r < 4; r++) out[r] = ck__hsum8(acc[r]);
}
#else
float ck__dot_q2_K_q8_K_avx2(int64_t n, const void *w, const void *a) { return ck__dot_q2_K_q8_K_ref(n, w, a); }
#endif
