// Batch tiles of the packed Q4_1 and Q8_0 kernels (layout in ck_packed.c) for CPUs with AVX-512
// VNNI: the same bits as the AVX2 tiles of ck_packed_q4.c, in fewer instructions.
//
// Exactness. ggml's order for a (row, token) pair keeps eight f32 lanes; per block each lane
// gets fma(d_x * d_y, float(four byte products summed), lane). On AVX2 the four-product sums
// come from maddubs (pairs in int16) then madd (pairs of pairs in int32); vpdpbusd forms the
// same four-product sum in int32 directly. The two agree whenever maddubs cannot saturate:
// Q4_1 quants are 0..15 and activations -127..127 (ck_quantize_row_q8_0/_q8_1 scale by
// max / 127), and ggml's Q8_0 pairs (x's magnitude, at most 128, against y with x's sign) stay
// within +-32512, so its sums are the exact x . y that the Q8_0 tile below forms another way.
// (llama.cpp's own mul_sum_us8_pairs_float takes vpdpbusd on these CPUs for the same reason.)
//
// Width. A 512-bit register holds two pairs' eight lanes: rows 0 and 1 (or 2 and 3) of the
// group against one token, each half its own accumulator through the whole row, so nothing
// is summed across pairs. Per (token, block) that is two vpdpbusd, two converts, two FMAs and
// two multiplies for the scale products (formed here, d_x widened once per block for all the
// tokens), against four maddubs, four madd, four converts and four FMAs on AVX2; up to eight
// tokens share each block's unpacked weights (32 registers hold their accumulators).
#include "ck_packed_internal.h"

#if defined(__x86_64__)

#define CK_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

/// Two rows' f32 scales of block b, [d_r x 8 | d_r+1 x 8] for r = 0 and r = 2.
CK_VNNI static inline __attribute__((always_inline)) void row_pair_scales(const uint16_t *dx4, __m512 *d01, __m512 *d23) {
    const __m512 d = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)dx4)));
    *d01 = _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0), d);
    *d23 = _mm512_permutexvar_ps(_mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2), d);
}

/// A token's 32 activation quants of a block in both halves.
CK_VNNI static inline __attribute__((always_inline)) __m512i both_halves(const int8_t *q) {
    return _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)q));
}

CK_VNNI static inline __attribute__((always_inline)) __m512 four_product_sums(__m512i u, __m512i s) {
    return _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s));
}

/// Rows (r, r + 1)'s results from one pair accumulator: each half's lanes in ck__hsum8's order.
CK_VNNI static inline __attribute__((always_inline)) void store_pair(__m512 acc, float *out) {
    out[0] = ck__hsum8(_mm512_castps512_ps256(acc));
    out[1] = ck__hsum8(_mm512_extractf32x8_ps(acc, 1));
}

/// nt tokens x the group's four rows of Q4_1, each (row, token) in ck__packed_group_q4_1's order.
/// The mins' chains (ggml: summs += m * s, fused) run four tokens to a register from quad_sums.
CK_VNNI static inline __attribute__((always_inline)) void
tile_q4_1(const ck_packed *p, int64_t g, const int nt, const uint8_t *const *act, const float *quad_sums, float *const *out) {
    const uint8_t *base = p->data + (size_t)g * p->group_bytes;
    const uint16_t *dx = (const uint16_t *)base, *mx = dx + p->nb * CK_GROUP;
    const uint8_t *qs = base + p->scale_bytes;
    const int quads = (nt + 3) / 4;
    const int8_t *qy[CK_VNNI_TILE];
    const float *dy[CK_VNNI_TILE];
    __m512 acc01[CK_VNNI_TILE], acc23[CK_VNNI_TILE], mins[CK_VNNI_TILE / 4];
    for (int t = 0; t < nt; t++) {
        qy[t] = (const int8_t *)act[t];
        dy[t] = (const float *)(act[t] + (size_t)p->nb * 32);
        acc01[t] = acc23[t] = _mm512_setzero_ps();
    }
    for (int q = 0; q < quads; q++) mins[q] = _mm512_setzero_ps();
    const __m512i low = _mm512_set1_epi8(0x0f);
    for (int64_t b = 0; b < p->nb; b++, qs += 64) {
        // Rows 0/1 share chunk A (low / high nibbles), rows 2/3 chunk B: the upper half shifted.
        const __m512i a = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)qs));
        const __m512i c = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)(qs + 32)));
        const __m512i q01 = _mm512_and_si512(_mm512_mask_srli_epi16(a, 0xffff0000u, a, 4), low);
        const __m512i q23 = _mm512_and_si512(_mm512_mask_srli_epi16(c, 0xffff0000u, c, 4), low);
        __m512 d01, d23;
        row_pair_scales(dx + b * CK_GROUP, &d01, &d23);
        // ggml: summs += m * s (fused), per (row, token): the four mins against four tokens' sums.
        const __m512 m4 = _mm512_broadcast_f32x4(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(mx + b * CK_GROUP))));
        for (int q = 0; q < quads; q++) mins[q] = _mm512_fmadd_ps(m4, _mm512_loadu_ps(quad_sums + CK_QUAD_SUMS(p->nb, q, b)), mins[q]);
        for (int t = 0; t < nt; t++) {
            // acc = fma(d_x * d_y, sum, acc) per block.
            const __m512i y = both_halves(qy[t] + b * 32);
            const __m512 dyb = _mm512_set1_ps(dy[t][b]);
            acc01[t] = _mm512_fmadd_ps(_mm512_mul_ps(d01, dyb), four_product_sums(q01, y), acc01[t]);
            acc23[t] = _mm512_fmadd_ps(_mm512_mul_ps(d23, dyb), four_product_sums(q23, y), acc23[t]);
        }
    }
    float m[CK_VNNI_TILE * 4];
    for (int q = 0; q < quads; q++) _mm512_storeu_ps(m + 16 * q, mins[q]);
    for (int t = 0; t < nt; t++) {
        float r[4];
        store_pair(acc01[t], r);
        store_pair(acc23[t], r + 2);
        for (int k = 0; k < 4; k++) out[t][k] = r[k] + m[4 * t + k];
    }
}

/// nt tokens x the group's four rows of Q8_0, each (row, token) in ck__packed_group_q8_0's order.
/// ggml takes x's magnitudes against y with x's sign; here the unsigned operand is y + 128 and
/// each lane's sum starts at -128 x (four bytes' worth), formed once per block for all the
/// tokens: the same integer sum x . y, with one XOR per token instead of two sign moves.
CK_VNNI static inline __attribute__((always_inline)) void
tile_q8_0(const ck_packed *p, int64_t g, const int nt, const uint8_t *const *act, const float *quad_sums, float *const *out) {
    (void)quad_sums;
    const uint8_t *base = p->data + (size_t)g * p->group_bytes;
    const uint16_t *dx = (const uint16_t *)base;
    const uint8_t *qs = base + p->scale_bytes;
    const float *dy[CK_VNNI_TILE];
    __m512 acc01[CK_VNNI_TILE], acc23[CK_VNNI_TILE];
    for (int t = 0; t < nt; t++) {
        dy[t] = (const float *)(act[t] + (size_t)p->nb * 32);
        acc01[t] = acc23[t] = _mm512_setzero_ps();
    }
    const __m512i zero = _mm512_setzero_si512(), bias = _mm512_set1_epi8((char)0x80);
    for (int64_t b = 0; b < p->nb; b++, qs += 128) {
        const __m512i x01 = _mm512_loadu_si512((const void *)qs), x23 = _mm512_loadu_si512((const void *)(qs + 64));
        const __m512i c01 = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, bias, x01));
        const __m512i c23 = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, bias, x23));
        __m512 d01, d23;
        row_pair_scales(dx + b * CK_GROUP, &d01, &d23);
        for (int t = 0; t < nt; t++) {
            const __m512i y = _mm512_xor_si512(both_halves((const int8_t *)act[t] + b * 32), bias);
            const __m512 dyb = _mm512_set1_ps(dy[t][b]);
            acc01[t] = _mm512_fmadd_ps(_mm512_mul_ps(d01, dyb), _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(c01, y, x01)), acc01[t]);
            acc23[t] = _mm512_fmadd_ps(_mm512_mul_ps(d23, dyb), _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(c23, y, x23)), acc23[t]);
        }
    }
    for (int t = 0; t < nt; t++) {
        store_pair(acc01[t], out[t]);
        store_pair(acc23[t], out[t] + 2);
    }
}

#define DISPATCH_NT(tile)                                   \
    switch (nt) {                                           \
    case 1: tile(p, g, 1, act, quad_sums, out); break;                 \
    case 2: tile(p, g, 2, act, quad_sums, out); break;                 \
    case 3: tile(p, g, 3, act, quad_sums, out); break;                 \
    case 4: tile(p, g, 4, act, quad_sums, out); break;                 \
    case 5: tile(p, g, 5, act, quad_sums, out); break;                 \
    case 6: tile(p, g, 6, act, quad_sums, out); break;                 \
    case 7: tile(p, g, 7, act, quad_sums, out); break;                 \
    default: tile(p, g, CK_VNNI_TILE, act, quad_sums, out); break;     \
    }

CK_VNNI void ck__packed_vnni_tile_q4_1(const ck_packed *p, int64_t g, int nt, const uint8_t *const *act, const float *quad_sums,
                                       float *const *out) {
    DISPATCH_NT(tile_q4_1)
}

CK_VNNI void ck__packed_vnni_tile_q8_0(const ck_packed *p, int64_t g, int nt, const uint8_t *const *act, const float *quad_sums,
                                       float *const *out) {
    DISPATCH_NT(tile_q8_0)
}

#undef DISPATCH_NT
#endif
