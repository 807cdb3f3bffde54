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

/// Prefill: the group's d_x widened and broadcast once per group (scratch: nb x 4 vectors),
/// so each (row, token, block) scale product is a single multiply.
CK_AVX2 void ck__packed_expand_scales(const ck_packed *p, int64_t g, float *dx8) {
    const uint16_t *dx = (const uint16_t *)(p->data + (size_t)g * p->group_bytes);
    for (int64_t b = 0; b < p->nb; b++) {
        const __m128 d = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(dx + b * CK_GROUP)));
        const __m256 d2 = _mm256_set_m128(d, d);
        _mm256_store_ps(dx8 + (b * 4 + 0) * 8, _mm256_permute_ps(d2, 0x00));
        _mm256_store_ps(dx8 + (b * 4 + 1) * 8, _mm256_permute_ps(d2, 0x55));
        _mm256_store_ps(dx8 + (b * 4 + 2) * 8, _mm256_permute_ps(d2, 0xaa));
        _mm256_store_ps(dx8 + (b * 4 + 3) * 8, _mm256_permute_ps(d2, 0xff));
    }
}

/// Two rows x two tokens of Q4_1 (rows 0-1 from nibble chunk A, rows 2-3 from chunk B),
/// nibbles unpacked once for both tokens.
CK_AVX2 static inline void tile2_q4_1(const ck_packed *p, int64_t g, int r0, const float *dx8, const uint8_t *act0,
                                      const uint8_t *act1, float out0[4], float out1[4]) {
    const uint8_t *base = p->data + (size_t)g * p->group_bytes;
    const uint16_t *mx = (const uint16_t *)base + p->nb * CK_GROUP;
    const uint8_t *qs = base + p->scale_bytes + (size_t)(r0 / 2) * 32;
    const int8_t *qy0 = (const int8_t *)act0, *qy1 = (const int8_t *)act1;
    const float *dy0 = (const float *)(act0 + (size_t)p->nb * 32), *dy1 = (const float *)(act1 + (size_t)p->nb * 32);
    const float *sy0 = dy0 + p->nb, *sy1 = dy1 + p->nb;
    const __m256i ones = _mm256_set1_epi16(1), low = _mm256_set1_epi8(0x0f);
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00;
    __m128 m0 = _mm_setzero_ps(), m1 = m0;
    const float *d = dx8 + r0 * 8;
    for (int64_t b = 0; b < p->nb; b++, qs += 64, d += 32) {
        const __m128 mb = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(mx + b * CK_GROUP)));
        m0 = _mm_fmadd_ps(mb, _mm_broadcast_ss(sy0 + b), m0);
        m1 = _mm_fmadd_ps(mb, _mm_broadcast_ss(sy1 + b), m1);
        const __m256i y0 = _mm256_load_si256((const __m256i *)(qy0 + b * 32));
        const __m256i y1 = _mm256_load_si256((const __m256i *)(qy1 + b * 32));
        const __m256 e0 = _mm256_broadcast_ss(dy0 + b), e1 = _mm256_broadcast_ss(dy1 + b);
        const __m256i a = _mm256_load_si256((const __m256i *)qs);
#define ROW(r, xr, acc0, acc1)                                                                                    \
        {                                                                                                         \
            const __m256i q = (xr);                                                                               \
            const __m256 dr = _mm256_load_ps(d + r * 8);                                                        \
            const __m256 s0 = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(q, y0), ones));         \
            const __m256 s1 = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(q, y1), ones));         \
            acc0 = _mm256_fmadd_ps(_mm256_mul_ps(dr, e0), s0, acc0);                                            \
            acc1 = _mm256_fmadd_ps(_mm256_mul_ps(dr, e1), s1, acc1);                                            \
        }
        ROW(0, _mm256_and_si256(a, low), a00, a01)
        ROW(1, _mm256_and_si256(_mm256_srli_epi16(a, 4), low), a10, a11)
#undef ROW
    }
    float n0[4], n1[4];
    _mm_storeu_ps(n0, m0);
    _mm_storeu_ps(n1, m1);
    out0[r0] = ck__hsum8(a00) + n0[r0]; out1[r0] = ck__hsum8(a01) + n1[r0];
    out0[r0 + 1] = ck__hsum8(a10) + n0[r0 + 1]; out1[r0 + 1] = ck__hsum8(a11) + n1[r0 + 1];
}

CK_AVX2 void ck__packed_tile_q4_1(const ck_packed *p, int64_t g, const float *dx8, const uint8_t *act0, const uint8_t *act1,
                              float out0[4], float out1[4]) {
    tile2_q4_1(p, g, 0, dx8, act0, act1, out0, out1);
    tile2_q4_1(p, g, 2, dx8, act0, act1, out0, out1);
}

/// Three tokens x the group's four rows of Q4_1, as tile_q4_1 (each (row, token) in
/// group_q4_1's order): each block's nibbles unpacked and its mins converted once for all three.
CK_AVX2 void ck__packed_tile3_q4_1(const ck_packed *p, int64_t g, const float *dx8, const uint8_t *const act[3],
                               float *const out[3]) {
    const uint8_t *base = p->data + (size_t)g * p->group_bytes;
    const uint16_t *mx = (const uint16_t *)base + p->nb * CK_GROUP;
    const uint8_t *qs = base + p->scale_bytes;
    const int8_t *qy[3];
    const float *dy[3], *sy[3];
    for (int t = 0; t < 3; t++) {
        qy[t] = (const int8_t *)act[t];
        dy[t] = (const float *)(act[t] + (size_t)p->nb * 32);
        sy[t] = dy[t] + p->nb;
    }
    const __m256i ones = _mm256_set1_epi16(1), low = _mm256_set1_epi8(0x0f);
    __m256 acc[4][3];
    __m128 mins[3];
    for (int t = 0; t < 3; t++) {
        mins[t] = _mm_setzero_ps();
        for (int r = 0; r < 4; r++) acc[r][t] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < p->nb; b++, qs += 64, dx8 += 32) {
        const __m128 mb = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(mx + b * CK_GROUP)));
        __m256i y[3];
        __m256 e[3];
        for (int t = 0; t < 3; t++) {
            mins[t] = _mm_fmadd_ps(mb, _mm_broadcast_ss(sy[t] + b), mins[t]);
            y[t] = _mm256_load_si256((const __m256i *)(qy[t] + b * 32));
            e[t] = _mm256_broadcast_ss(dy[t] + b);
        }
        const __m256i a = _mm256_load_si256((const __m256i *)qs), c = _mm256_load_si256((const __m256i *)(qs + 32));
        const __m256i q[4] = { _mm256_and_si256(a, low), _mm256_and_si256(_mm256_srli_epi16(a, 4), low),
                               _mm256_and_si256(c, low), _mm256_and_si256(_mm256_srli_epi16(c, 4), low) };
        for (int r = 0; r < 4; r++) {
            const __m256 dr = _mm256_load_ps(dx8 + r * 8);
            for (int t = 0; t < 3; t++) {
                const __m256 sum = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(q[r], y[t]), ones));
                acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(dr, e[t]), sum, acc[r][t]);
            }
        }
    }
    for (int t = 0; t < 3; t++) {
        float m[4];
        _mm_storeu_ps(m, mins[t]);
        for (int r = 0; r < 4; r++) out[t][r] = ck__hsum8(acc[r][t]) + m[r];
    }
}

/// Two tokens x the group's four rows of Q8_0, each (row, token) in exactly group_q8_0's order
/// (llama.cpp's: its prefill, tinyBLAS, accumulates as its single-token dot does), so a batch
/// gives the bits of one token at a time; each row's quants and absolute values are loaded
/// once for both tokens.
CK_AVX2 void ck__packed_tile_q8_0(const ck_packed *p, int64_t g, const float *dx8, const uint8_t *act0, const uint8_t *act1,
                              float out0[4], float out1[4]) {
    const uint8_t *qs = p->data + (size_t)g * p->group_bytes + p->scale_bytes;
    const int8_t *qy0 = (const int8_t *)act0, *qy1 = (const int8_t *)act1;
    const float *dy0 = (const float *)(act0 + (size_t)p->nb * 32), *dy1 = (const float *)(act1 + (size_t)p->nb * 32);
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    for (int64_t b = 0; b < p->nb; b++, qs += 128, dx8 += 32) {
        const __m256i y0 = _mm256_load_si256((const __m256i *)(qy0 + b * 32)), y1 = _mm256_load_si256((const __m256i *)(qy1 + b * 32));
        const __m256 e0 = _mm256_broadcast_ss(dy0 + b), e1 = _mm256_broadcast_ss(dy1 + b);
#define ROW(r, acc0, acc1)                                                                                      \
        {                                                                                                       \
            const __m256i x = _mm256_load_si256((const __m256i *)(qs + 32 * r));                                \
            const __m256i ax = _mm256_sign_epi8(x, x);                                                          \
            const __m256 d = _mm256_load_ps(dx8 + r * 8);                                                       \
            acc0 = _mm256_fmadd_ps(_mm256_mul_ps(d, e0), ck__dot_u8_s8(ax, _mm256_sign_epi8(y0, x)), acc0);    \
            acc1 = _mm256_fmadd_ps(_mm256_mul_ps(d, e1), ck__dot_u8_s8(ax, _mm256_sign_epi8(y1, x)), acc1);    \
        }
        ROW(0, a00, a01) ROW(1, a10, a11) ROW(2, a20, a21) ROW(3, a30, a31)
#undef ROW
    }
    out0[0] = ck__hsum8(a00); out1[0] = ck__hsum8(a01);
    out0[1] = ck__hsum8(a10); out1[1] = ck__hsum8(a11);
    out0[2] = ck__hsum8(a20); out1[2] = ck__hsum8(a21);
    out0[3] = ck__hsum8(a30); out1[3] = ck__hsum8(a31);
}

/// Three tokens x the group's four rows of Q8_0, as tile_q8_0 (each (row, token) in
/// group_q8_0's order): each row's quants, magnitudes and scales serve three tokens.
CK_AVX2 void ck__packed_tile3_q8_0(const ck_packed *p, int64_t g, const float *dx8, const uint8_t *const act[3],
                               float *const out[3]) {
    const uint8_t *qs = p->data + (size_t)g * p->group_bytes + p->scale_bytes;
    const int8_t *qy[3];
    const float *dy[3];
    for (int t = 0; t < 3; t++) {
        qy[t] = (const int8_t *)act[t];
        dy[t] = (const float *)(act[t] + (size_t)p->nb * 32);
    }
    __m256 acc[4][3];
    for (int r = 0; r < 4; r++)
        for (int t = 0; t < 3; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < p->nb; b++, qs += 128, dx8 += 32) {
        __m256i y[3];
        __m256 e[3];
        for (int t = 0; t < 3; t++) {
            y[t] = _mm256_load_si256((const __m256i *)(qy[t] + b * 32));
            e[t] = _mm256_broadcast_ss(dy[t] + b);
        }
        for (int r = 0; r < 4; r++) {
            const __m256i x = _mm256_load_si256((const __m256i *)(qs + 32 * r));
            const __m256i ax = _mm256_sign_epi8(x, x);
            const __m256 d = _mm256_load_ps(dx8 + r * 8);
            for (int t = 0; t < 3; t++) {
                acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(d, e[t]), ck__dot_u8_s8(ax, _mm256_sign_epi8(y[t], x)), acc[r][t]);
            }
        }
    }
    for (int t = 0; t < 3; t++)
        for (int r = 0; r < 4; r++) out[t][r] = ck__hsum8(acc[r][t]);
}
#endif
