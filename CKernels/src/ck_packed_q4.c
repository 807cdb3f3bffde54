// The packed kernels of Q4_0, Q4_1 and Q8_0 (layout in ck_packed.c): a group's four rows against
// one token (GEMV) or tiles of two and three tokens (prefill), each output in the single-row
// dot's order.
#include "ck_packed_internal.h"

#include <string.h>

#if defined(__x86_64__)

CK_AVX2 void ck__packed_group_q4_1(const ck_packed *p, int64_t g, const uint8_t *act, float out[4]) {
    const uint8_t *base = p->data + (size_t)g * p->group_bytes;
    const uint16_t *dx = (const uint16_t *)base, *mx = dx + p->nb * CK_GROUP;
    const uint8_t *qs = base + p->scale_bytes;
    const int8_t *qy = (const int8_t *)act;
    const float *dy = (const float *)(act + (size_t)p->nb * 32), *sy = dy + p->nb;
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    __m128 mins = _mm_setzero_ps();
    for (int64_t b = 0; b < p->nb; b++) {
        const __m256i y = _mm256_load_si256((const __m256i *)(qy + b * 32));
        // ggml: summs += m * s (fused), then acc = fma(d_x * d_y, sum, acc) per block.
        mins = _mm_fmadd_ps(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(mx + b * CK_GROUP))), _mm_broadcast_ss(sy + b), mins);
        SCALES4(dx + b * CK_GROUP, _mm_broadcast_ss(dy + b));
        const __m256i a = _mm256_load_si256((const __m256i *)(qs + b * 64));
        const __m256i c = _mm256_load_si256((const __m256i *)(qs + b * 64 + 32));
        const __m256i a_hi = _mm256_srli_epi16(a, 4), c_hi = _mm256_srli_epi16(c, 4);
        acc0 = _mm256_fmadd_ps(D0, ck__dot_u8_s8(_mm256_and_si256(a, low), y), acc0);
        acc1 = _mm256_fmadd_ps(D1, ck__dot_u8_s8(_mm256_and_si256(a_hi, low), y), acc1);
        acc2 = _mm256_fmadd_ps(D2, ck__dot_u8_s8(_mm256_and_si256(c, low), y), acc2);
        acc3 = _mm256_fmadd_ps(D3, ck__dot_u8_s8(_mm256_and_si256(c_hi, low), y), acc3);
    }
    float m[4];
    _mm_storeu_ps(m, mins);
    out[0] = ck__hsum8(acc0) + m[0];
    out[1] = ck__hsum8(acc1) + m[1];
    out[2] = ck__hsum8(acc2) + m[2];
    out[3] = ck__hsum8(acc3) + m[3];
}

CK_AVX2 void ck__packed_group_q4_0(const ck_packed *p, int64_t g, const uint8_t *act, float out[4]) {
    const uint8_t *base = p->data + (size_t)g * p->group_bytes;
    const uint16_t *dx = (const uint16_t *)base;
    const uint8_t *qs = base + p->scale_bytes;
    const int8_t *qy = (const int8_t *)act;
    const float *dy = (const float *)(act + (size_t)p->nb * 32);
    const __m256i low = _mm256_set1_epi8(0x0f), eight = _mm256_set1_epi8(8), ones = _mm256_set1_epi16(1);
    // As ck__dot_q4_0_q8_0_avx2 (llama.cpp's repacked order): the four rows' exact block dots,
    // then one FMA per row and block.
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < p->nb; b++) {
        const __m256i y = _mm256_load_si256((const __m256i *)(qy + b * 32));
        const __m128 dd = _mm_mul_ps(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(dx + b * CK_GROUP))), _mm_broadcast_ss(dy + b));
        const __m256i a = _mm256_load_si256((const __m256i *)(qs + b * 64));
        const __m256i c = _mm256_load_si256((const __m256i *)(qs + b * 64 + 32));
        const __m256i q0 = _mm256_sub_epi8(_mm256_and_si256(a, low), eight), q1 = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(a, 4), low), eight);
        const __m256i q2 = _mm256_sub_epi8(_mm256_and_si256(c, low), eight), q3 = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(c, 4), low), eight);
#define LANES(q) _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(y, q)), ones)
        const __m128i sums = ck__hsum4_i32(LANES(q0), LANES(q1), LANES(q2), LANES(q3));
#undef LANES
        acc = _mm_fmadd_ps(_mm_cvtepi32_ps(sums), dd, acc);
    }
    _mm_storeu_ps(out, acc);
}

CK_AVX2 void ck__packed_group_q8_0(const ck_packed *p, int64_t g, const uint8_t *act, float out[4]) {
    const uint8_t *base = p->data + (size_t)g * p->group_bytes;
    const uint16_t *dx = (const uint16_t *)base;
    const uint8_t *qs = base + p->scale_bytes;
    const int8_t *qy = (const int8_t *)act;
    const float *dy = (const float *)(act + (size_t)p->nb * 32);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (int64_t b = 0; b < p->nb; b++) {
        const __m256i y = _mm256_load_si256((const __m256i *)(qy + b * 32));
        SCALES4(dx + b * CK_GROUP, _mm_broadcast_ss(dy + b));
        const __m256i *x = (const __m256i *)(qs + b * 128);
        acc0 = _mm256_fmadd_ps(D0, ck__dot_s8_s8(_mm256_load_si256(x + 0), y), acc0);
        acc1 = _mm256_fmadd_ps(D1, ck__dot_s8_s8(_mm256_load_si256(x + 1), y), acc1);
        acc2 = _mm256_fmadd_ps(D2, ck__dot_s8_s8(_mm256_load_si256(x + 2), y), acc2);
        acc3 = _mm256_fmadd_ps(D3, ck__dot_s8_s8(_mm256_load_si256(x + 3), y), acc3);
    }
    out[0] = ck__hsum8(acc0);
    out[1] = ck__hsum8(acc1);
    out[2] = ck__hsum8(acc2);
    out[3] = ck__hsum8(acc3);
}

/// Prefill: the scale products of n tokens (packed activations act_bytes apart) with the group's
/// rows, dd[t * 4 nb + 4 b + r] = d_x[b][r] * d_y_t[b] (the f32 products the single-row kernels
/// form), so a tile's inner loop broadcasts them instead of multiplying for every (row, token,
/// block); the group's f16 scales are widened once for all the tokens, two blocks per vector.
CK_AVX2 void ck__packed_scale_products(const ck_packed *p, int64_t g, const uint8_t *act, size_t act_bytes, int64_t n, float *dd) {
    const uint16_t *dx = (const uint16_t *)(p->data + (size_t)g * p->group_bytes);
    const int64_t nb = p->nb;
    int64_t b = 0;
    // Two blocks per vector: the eight scales times the token's d pair (d_b x 4, d_b+1 x 4) that
    // its activations hold ready.
    const uint8_t *pairs = act + CK_ACT_PAIRS_OFFSET(nb);
    for (; b + 2 <= nb; b += 2, pairs += 32) {
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(dx + b * CK_GROUP)));
        const uint8_t *e = pairs;
        float *out = dd + b * CK_GROUP;
        for (int64_t t = 0; t < n; t++, e += act_bytes, out += nb * CK_GROUP)
            _mm256_storeu_ps(out, _mm256_mul_ps(d, _mm256_load_ps((const float *)e)));
    }
    for (; b < nb; b++) {
        const __m128 d = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(dx + b * CK_GROUP)));
        for (int64_t t = 0; t < n; t++) {
            const float *dy = (const float *)(act + (size_t)t * act_bytes + (size_t)nb * 32) + b;
            _mm_storeu_ps(dd + t * nb * CK_GROUP + b * CK_GROUP, _mm_mul_ps(d, _mm_broadcast_ss(dy)));
        }
    }
}

/// nt (2 or 3) tokens x the group's four rows of Q4_1, each (row, token) in group_q4_1's order:
/// each block's nibbles unpacked and its mins converted once for all the tokens.
CK_AVX2 static inline __attribute__((always_inline)) void
tile_q4_1(const ck_packed *p, int64_t g, const int nt, const float *const dd[3], const uint8_t *const act[3], float *const out[3]) {
    const uint8_t *base = p->data + (size_t)g * p->group_bytes;
    const uint16_t *mx = (const uint16_t *)base + p->nb * CK_GROUP;
    const uint8_t *qs = base + p->scale_bytes;
    const int8_t *qy[3];
    const float *sy[3];
    for (int t = 0; t < nt; t++) {
        qy[t] = (const int8_t *)act[t];
        sy[t] = (const float *)(act[t] + (size_t)p->nb * 32) + p->nb;
    }
    const __m256i ones = _mm256_set1_epi16(1), low = _mm256_set1_epi8(0x0f);
    __m256 acc[4][3];
    __m128 mins[3];
    for (int t = 0; t < nt; t++) {
        mins[t] = _mm_setzero_ps();
        for (int r = 0; r < 4; r++) acc[r][t] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < p->nb; b++, qs += 64) {
        const __m128 mb = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(mx + b * CK_GROUP)));
        __m256i y[3];
        for (int t = 0; t < nt; t++) {
            mins[t] = _mm_fmadd_ps(mb, _mm_broadcast_ss(sy[t] + b), mins[t]);
            y[t] = _mm256_load_si256((const __m256i *)(qy[t] + b * 32));
        }
        const __m256i a = _mm256_load_si256((const __m256i *)qs), c = _mm256_load_si256((const __m256i *)(qs + 32));
        const __m256i q[4] = { _mm256_and_si256(a, low), _mm256_and_si256(_mm256_srli_epi16(a, 4), low),
                               _mm256_and_si256(c, low), _mm256_and_si256(_mm256_srli_epi16(c, 4), low) };
        for (int r = 0; r < 4; r++) {
            for (int t = 0; t < nt; t++) {
                const __m256 sum = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(q[r], y[t]), ones));
                acc[r][t] = _mm256_fmadd_ps(_mm256_broadcast_ss(dd[t] + b * CK_GROUP + r), sum, acc[r][t]);
            }
        }
    }
    for (int t = 0; t < nt; t++) {
        float m[4];
        _mm_storeu_ps(m, mins[t]);
        for (int r = 0; r < 4; r++) out[t][r] = ck__hsum8(acc[r][t]) + m[r];
    }
}

CK_AVX2 void ck__packed_tile_q4_1(const ck_packed *p, int64_t g, int nt, const float *const dd[3], const uint8_t *const act[3],
                                  float *const out[3]) {
    if (nt == 3) tile_q4_1(p, g, 3, dd, act, out);
    else tile_q4_1(p, g, 2, dd, act, out);
}

/// nt (2 or 3) tokens x the group's four rows of Q8_0, each (row, token) in exactly group_q8_0's
/// order (llama.cpp's: its prefill, tinyBLAS, accumulates as its single-token dot does), so a
/// batch gives the bits of one token at a time; each row's quants and magnitudes are loaded once
/// for all the tokens.
CK_AVX2 static inline __attribute__((always_inline)) void
tile_q8_0(const ck_packed *p, int64_t g, const int nt, const float *const dd[3], const uint8_t *const act[3], float *const out[3]) {
    const uint8_t *qs = p->data + (size_t)g * p->group_bytes + p->scale_bytes;
    __m256 acc[4][3];
    for (int r = 0; r < 4; r++)
        for (int t = 0; t < nt; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < p->nb; b++, qs += 128) {
        __m256i y[3];
        for (int t = 0; t < nt; t++) y[t] = _mm256_load_si256((const __m256i *)(act[t] + b * 32));
        for (int r = 0; r < 4; r++) {
            const __m256i x = _mm256_load_si256((const __m256i *)(qs + 32 * r));
            const __m256i ax = _mm256_sign_epi8(x, x);
            for (int t = 0; t < nt; t++) {
                acc[r][t] = _mm256_fmadd_ps(_mm256_broadcast_ss(dd[t] + b * CK_GROUP + r), ck__dot_u8_s8(ax, _mm256_sign_epi8(y[t], x)),
                                            acc[r][t]);
            }
        }
    }
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < 4; r++) out[t][r] = ck__hsum8(acc[r][t]);
}

CK_AVX2 void ck__packed_tile_q8_0(const ck_packed *p, int64_t g, int nt, const float *const dd[3], const uint8_t *const act[3],
                                  float *const out[3]) {
    if (nt == 3) tile_q8_0(p, g, 3, dd, act, out);
    else tile_q8_0(p, g, 2, dd, act, out);
}
#endif
