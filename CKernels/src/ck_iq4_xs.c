// IQ4_XS: super-blocks of 256 weights in 8 sub-blocks of 32, each weight a 4-bit index into
// llama.cpp's non-linear table kvalues_iq4nl, each sub-block a 6-bit scale (ggml's
// block_iq4_xs, 136 bytes: f16 d, 16 bits of high scale bits, 4 bytes of low scale nibbles, 128
// bytes of indices; element j of a sub-block in byte j's low nibble, j + 16 in its high nibble);
// w = d * (ls - 32) * table[q]. Activations in Q8_K.
//
// The dot is llama.cpp's AVX2 order (ggml_vec_dot_iq4_xs_q8_K): per super-block 8 integer
// lanes, lane i = sum over sub-blocks of (ls - 32) * (table[q] . q8) of its elements
// 4i..4i+3, in one FMA chain per lane with d * d8, summed at the end as ck__hsum8 does.
#include "ck_internal.h"

#include <math.h>

const int8_t ck__iq4nl_table[16] = { -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 };

static inline int iq4_xs_scale(const ck_block_iq4_xs *x, int s) {
    return (((x->scales_l[s / 2] >> (4 * (s % 2))) & 0x0f) | (((x->scales_h >> (2 * s)) & 3) << 4)) - 32;
}

/// Element e (< 256) of a block as its table value.
static inline int iq4_xs_value(const ck_block_iq4_xs *x, int e) {
    const int s = e / 32, j = e % 32;
    const uint8_t byte = x->qs[16 * s + j % 16];
    return ck__iq4nl_table[j < 16 ? byte & 0x0f : byte >> 4];
}

void ck__dequantize_row_iq4_xs(const void *src, float *dst, int64_t n) {
    const ck_block_iq4_xs *x = src;
    for (int64_t b = 0; b < n / CK_QK_K; b++) {
        const float d = ck_fp16_to_fp32(x[b].d);
        for (int s = 0; s < 8; s++) {
            const float dl = d * (float)iq4_xs_scale(&x[b], s);
            for (int j = 0; j < 32; j++) *dst++ = dl * (float)iq4_xs_value(&x[b], 32 * s + j);
        }
    }
}

void ck__unpack_iq4_xs(const void *block, ck_kblock *out) {
    const ck_block_iq4_xs *x = block;
    for (int e = 0; e < CK_QK_K; e++) out->q[e] = (int8_t)iq4_xs_value(x, e);
    for (int c = 0; c < 16; c++) {
        out->sc[c] = (int16_t)iq4_xs_scale(x, c / 2);
        out->m[c] = 0;
    }
    out->d = ck_fp16_to_fp32(x->d);
    out->dmin = 0.0f;
}

float ck__dot_iq4_xs_q8_K_ref(int64_t n, const void *w, const void *a) {
    const ck_block_iq4_xs *x = w;
    const ck_block_q8_K *y = a;
    float acc[8] = { 0 };
    for (int64_t b = 0; b < n / CK_QK_K; b++) {
        const float d = ck_fp16_to_fp32(x[b].d) * y[b].d;
        for (int lane = 0; lane < 8; lane++) {
            int sum = 0;
            for (int s = 0; s < 8; s++) {
                int dot = 0;
                for (int t = 0; t < 4; t++) dot += iq4_xs_value(&x[b], 32 * s + 4 * lane + t) * y[b].qs[32 * s + 4 * lane + t];
                sum += iq4_xs_scale(&x[b], s) * dot;
            }
            acc[lane] = fmaf(d, (float)sum, acc[lane]);
        }
    }
    return ck__hsum8_ref(acc);
}

#if defined(__x86_64__)
#include <immintrin.h>

/// One super-block into the row's 8 lanes.
CK_AVX2 static inline void iq4_xs_step(const ck_block_iq4_xs *x, const ck_block_q8_K *y, __m128i table, __m256 *acc) {
    const __m128i m4 = _mm_set1_epi8(0x0f);
    __m256i sum = _mm256_setzero_si256();
    for (int s = 0; s < 8; s++) {
        const __m128i bits = _mm_loadu_si128((const __m128i *)(x->qs + 16 * s));
        const __m256i q = _mm256_set_m128i(_mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(bits, 4), m4)),
                                           _mm_shuffle_epi8(table, _mm_and_si128(bits, m4)));
        const __m256i qy = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * s));
        // |table| <= 127: the pairs of s8 x s8 products fit in 16 bits.
        const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(qy, q));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, _mm256_set1_epi16((short)iq4_xs_scale(x, s))));
    }
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x->d) * y->d), _mm256_cvtepi32_ps(sum), *acc);
}

CK_AVX2 float ck__dot_iq4_xs_q8_K_avx2(int64_t n, const void *w, const void *a) {
    const ck_block_iq4_xs *x = w;
    const ck_block_q8_K *y = a;
    const __m128i table = _mm_loadu_si128((const __m128i *)ck__iq4nl_table);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / CK_QK_K; b++) iq4_xs_step(&x[b], &y[b], table, &acc);
    return ck__hsum8(acc);
}

/// Four rows, each exactly the single-row dot: row r's block b at w + r * row_stride +
/// b * block_stride (GGUF rows: the row size and the block size; packed four-row groups: the
/// block size and four of them, ck_packed.c).
CK_AVX2 void ck__dot4_iq4_xs_q8_K_avx2(int64_t n, const void *w, size_t row_stride, size_t block_stride, const void *a, float out[4]) {
    const ck_block_q8_K *y = a;
    const __m128i table = _mm_loadu_si128((const __m128i *)ck__iq4nl_table);
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    for (int64_t b = 0; b < n / CK_QK_K; b++) {
        for (int r = 0; r < 4; r++) {
            const ck_block_iq4_xs *x = (const ck_block_iq4_xs *)((const uint8_t *)w + (size_t)r * row_stride + (size_t)b * block_stride);
            iq4_xs_step(x, &y[b], table, &acc[r]);
        }
    }
    for (int r = 0; r < 4; r++) out[r] = ck__hsum8(acc[r]);
}
#else
float ck__dot_iq4_xs_q8_K_avx2(int64_t n, const void *w, const void *a) { return ck__dot_iq4_xs_q8_K_ref(n, w, a); }
#endif
