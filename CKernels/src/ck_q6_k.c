// Q6_K: super-blocks of 256 weights, 16 sub-blocks of 16 with an int8 scale each (ggml's
// block_q6_K, 210 bytes: 128 bytes of low nibbles, 64 bytes of high 2-bit pairs, 16 scales, f16
// d); w = d * sc * (q - 32) with q of 6 bits. Within each half of 128 weights, element l of
// quarter k (l < 32) takes its low 4 bits from ql[l] (k = 0, 2) or ql[l + 32] (k = 1, 3), low
// nibble for k < 2, and its high 2 bits from bits 2k, 2k+1 of qh[l]. Activations in Q8_K.
//
// The dot is llama.cpp's AVX2 order (ggml_vec_dot_q6_K_q8_K, used for single tokens and batches
// alike): per super-block, 8 integer lanes, lane i holding sum over the 8 runs of 32 elements
// of sc * (q . q8) of the run's elements 4i..4i+3 (scale of its first 16 for i < 4, else of its
// last 16), minus 32 * (bsum_2i * sc_2i + bsum_2i+1 * sc_2i+1); then one FMA chain per lane with
// d * d8, the lanes summed at the end as ck__hsum8 does. The reference computes the same lanes.
#include "ck_internal.h"

#include <math.h>

/// Element e (< 128) of half `h` of a block, as the unsigned 6-bit value.
static inline int q6_value(const ck_block_q6_K *x, int h, int e) {
    const uint8_t *ql = x->ql + 64 * h, *qh = x->qh + 32 * h;
    const int l = e % 32, k = e / 32;
    const int low = k & 1 ? ql[l + 32] : ql[l];
    return ((k < 2 ? low & 0x0f : low >> 4) | (((qh[l] >> (2 * k)) & 3) << 4));
}

void ck__dequantize_row_q6_K(const void *src, float *dst, int64_t n) {
    const ck_block_q6_K *x = src;
    for (int64_t b = 0; b < n / CK_QK_K; b++) {
        const float d = ck_fp16_to_fp32(x[b].d);
        for (int e = 0; e < CK_QK_K; e++) {
            // ggml: d * sc * q, multiplied left to right.
            *dst++ = d * (float)x[b].scales[e / 16] * (float)(q6_value(&x[b], e / 128, e % 128) - 32);
        }
    }
}

void ck__unpack_q6_K(const void *block, ck_kblock *out) {
    const ck_block_q6_K *x = block;
    for (int e = 0; e < CK_QK_K; e++) out->q[e] = (int8_t)(q6_value(x, e / 128, e % 128) - 32);
    for (int c = 0; c < 16; c++) {
        out->sc[c] = x->scales[c];
        out->m[c] = 0;
    }
    out->d = ck_fp16_to_fp32(x->d);
    out->dmin = 0.0f;
}

float ck__dot_q6_K_q8_K_ref(int64_t n, const void *w, const void *a) {
    const ck_block_q6_K *x = w;
    const ck_block_q8_K *y = a;
    float acc[8] = { 0 };
    for (int64_t b = 0; b < n / CK_QK_K; b++) {
        const float d = y[b].d * ck_fp16_to_fp32(x[b].d);
        const int8_t *sc = x[b].scales;
        for (int lane = 0; lane < 8; lane++) {
            int sum = 0;
            for (int run = 0; run < 8; run++) { // run = 4 * half + quarter: elements 32 * run ...
                const int h = run / 4, k = run % 4;
                const int scale = sc[8 * h + 2 * k + (lane >= 4)];
                int dot = 0;
                for (int t = 0; t < 4; t++) {
                    const int e = 32 * k + 4 * lane + t;
                    dot += q6_value(&x[b], h, e) * y[b].qs[128 * h + e];
                }
                sum += scale * dot;
            }
            sum -= 32 * (y[b].bsums[2 * lane] * sc[2 * lane] + y[b].bsums[2 * lane + 1] * sc[2 * lane + 1]);
            acc[lane] = fmaf(d, (float)sum, acc[lane]);
        }
    }
    return ck__hsum8_ref(acc);
}

#if defined(__x86_64__)
#include <immintrin.h>

/// The 8 integer lanes of one super-block (see the file comment).
CK_AVX2 static inline __m256i q6_K_lanes(const ck_block_q6_K *x, const ck_block_q8_K *y) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
    const __m128i scales = _mm_loadu_si128((const __m128i *)x->scales);
    const __m256i offsets = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums),
                                                                _mm256_cvtepi8_epi16(scales)), 5);
    __m256i sum = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
        const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
        const __m256i q[4] = {
            _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4)),
            _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4)),
        };
        for (int k = 0; k < 4; k++) {
            const int s = 8 * h + 2 * k;
            // 16-bit lanes 0-7 take scale s, lanes 8-15 scale s + 1.
            const __m256i sc = _mm256_set_m128i(_mm_set1_epi16(x->scales[s + 1]), _mm_set1_epi16(x->scales[s]));
            const __m256i p = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(y->qs + 128 * h + 32 * k)));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(sc, p));
        }
    }
    return _mm256_sub_epi32(sum, offsets);
}

/// One super-block into the row's 8 lanes.
CK_AVX2 static inline void q6_K_step(const ck_block_q6_K *x, const ck_block_q8_K *y, __m256 *acc) {
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(y->d * _cvtsh_ss(x->d)), _mm256_cvtepi32_ps(q6_K_lanes(x, y)), *acc);
}

CK_AVX2 float ck__dot_q6_K_q8_K_avx2(int64_t n, const void *w, const void *a) {
    const ck_block_q6_K *x = w;
    const ck_block_q8_K *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / CK_QK_K; b++) q6_K_step(&x[b], &y[b], &acc);
    return ck__hsum8(acc);
}

/// Four rows, each exactly the single-row dot: row r's block b at w + r * row_stride +
/// b * block_stride (GGUF rows: the row size and the block size; packed four-row groups: the
/// block size and four of them, ck_packed.c).
CK_AVX2 void ck__dot4_q6_K_q8_K_avx2(int64_t n, const void *w, size_t row_stride, size_t block_stride, const void *a, float out[4]) {
    const ck_block_q8_K *y = a;
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    for (int64_t b = 0; b < n / CK_QK_K; b++) {
        for (int r = 0; r < 4; r++) {
            const ck_block_q6_K *x = (const ck_block_q6_K *)((const uint8_t *)w + (size_t)r * row_stride + (size_t)b * block_stride);
            q6_K_step(x, &y[b], &acc[r]);
        }
    }
    for (int r = 0; r < 4; r++) out[r] = ck__hsum8(acc[r]);
}
#else
float ck__dot_q6_K_q8_K_avx2(int64_t n, const void *w, const void *a) { return ck__dot_q6_K_q8_K_ref(n, w, a); }
#endif
