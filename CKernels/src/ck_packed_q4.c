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

/// np (<= 8) pairs of tokens' sums of mins with a group's four rows, a pair to a register (the
/// quad sums' halves hold two tokens' s_b four times each): each block's mins widened once for
/// them, every (row, token) lane the FMA chain over the blocks of group_q4_1.
CK_AVX2 static inline __attribute__((always_inline)) void mins_q4_1(int64_t nb, const uint16_t *mx, const float *quad_sums, const int np,
                                                                    float *mins) {
    __m256 acc[8];
    for (int k = 0; k < np; k++) acc[k] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const __m128 m = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(mx + b * CK_GROUP)));
        const __m256 m2 = _mm256_set_m128(m, m);
        for (int k = 0; k < np; k++)
            acc[k] = _mm256_fmadd_ps(m2, _mm256_load_ps(quad_sums + CK_QUAD_SUMS(nb, k / 2, b) + 8 * (k % 2)), acc[k]);
    }
    for (int k = 0; k < np; k++) _mm256_storeu_ps(mins + 8 * k, acc[k]);
}

/// Prefill, Q4_1, once per pass over a group's tokens: the group's quants unpacked to bytes
/// (quants[128 b + 32 r + j]: row r's quant j of block b) and n tokens' sums of mins
/// (mins[4 t + r], each the FMA chain over the blocks that group_q4_1 forms; an odd n also
/// writes the four floats after its last token), so the tiles' inner loop holds nothing in
/// registers but its 12 accumulators (the tile used to unpack every block for each tile and keep
/// three tokens' mins live, which spilled accumulators to the stack).
CK_AVX2 void ck__packed_prepare_q4_1(const ck_packed *p, int64_t g, const float *quad_sums, int64_t n, uint8_t *quants, float *mins) {
    const uint8_t *base = p->data + (size_t)g * p->group_bytes;
    const uint16_t *mx = (const uint16_t *)base + p->nb * CK_GROUP;
    const uint8_t *qs = base + p->scale_bytes;
    const __m256i low = _mm256_set1_epi8(0x0f);
    for (int64_t b = 0; b < p->nb; b++) {
        const __m256i a = _mm256_load_si256((const __m256i *)(qs + b * 64)), c = _mm256_load_si256((const __m256i *)(qs + b * 64 + 32));
        __m256i *u = (__m256i *)(quants + b * 128);
        _mm256_store_si256(u, _mm256_and_si256(a, low));
        _mm256_store_si256(u + 1, _mm256_and_si256(_mm256_srli_epi16(a, 4), low));
        _mm256_store_si256(u + 2, _mm256_and_si256(c, low));
        _mm256_store_si256(u + 3, _mm256_and_si256(_mm256_srli_epi16(c, 4), low));
    }
    // Sixteen tokens' chains at a time (in registers: a count fixed per call of mins_q4_1).
    for (int64_t t0 = 0; t0 < n; t0 += 16) {
        const float *quads = quad_sums + CK_QUAD_SUMS(p->nb, t0 / 4, 0);
        float *out = mins + 4 * t0;
        const int64_t pairs = (n - t0 + 1) / 2;
        switch (pairs < 8 ? (int)pairs : 8) {
        case 1: mins_q4_1(p->nb, mx, quads, 1, out); break;
        case 2: mins_q4_1(p->nb, mx, quads, 2, out); break;
        case 3: mins_q4_1(p->nb, mx, quads, 3, out); break;
        case 4: mins_q4_1(p->nb, mx, quads, 4, out); break;
        case 5: mins_q4_1(p->nb, mx, quads, 5, out); break;
        case 6: mins_q4_1(p->nb, mx, quads, 6, out); break;
        case 7: mins_q4_1(p->nb, mx, quads, 7, out); break;
        default: mins_q4_1(p->nb, mx, quads, 8, out); break;
        }
    }
}

/// A tile's sums out: token t's four rows (acc[r][t]) summed as ck__hsum8 sums each, two tokens
/// per ck__hsum8x8, plus the sums of mins (mins[4 t + r]; NULL: none), stored as out[t][0 ... 3].
CK_AVX2 static inline __attribute__((always_inline)) void store_tile(const __m256 acc[4][3], const int nt, const float *mins,
                                                                     float *const out[3]) {
    const __m256 pair[8] = { acc[0][0], acc[1][0], acc[2][0], acc[3][0], acc[0][1], acc[1][1], acc[2][1], acc[3][1] };
    __m256 sums = ck__hsum8x8(pair); // token 0's rows | token 1's rows
    if (mins) sums = _mm256_add_ps(sums, _mm256_loadu_ps(mins));
    _mm_storeu_ps(out[0], _mm256_castps256_ps128(sums));
    _mm_storeu_ps(out[1], _mm256_extractf128_ps(sums, 1));
    if (nt > 2) {
        __m128 third = ck__hsum8x4(acc[0][2], acc[1][2], acc[2][2], acc[3][2]);
        if (mins) third = _mm_add_ps(third, _mm_loadu_ps(mins + 8));
        _mm_storeu_ps(out[2], third);
    }
}

/// nt (2 or 3) tokens x the group's four rows of Q4_1, each (row, token) in group_q4_1's order,
/// from the pass's unpacked quants and sums of mins (ck__packed_prepare_q4_1): per block and row,
/// one load of the quants for all the tokens, then maddubs, madd, convert and FMA per token.
CK_AVX2 static inline __attribute__((always_inline)) void
tile_q4_1(const ck_packed *p, const int nt, const float *const dd[3], const uint8_t *const act[3], const uint8_t *quants, const float *mins,
          float *const out[3]) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4][3];
    for (int r = 0; r < 4; r++)
        for (int t = 0; t < nt; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < p->nb; b++, quants += 128) {
        for (int r = 0; r < 4; r++) {
            const __m256i q = _mm256_load_si256((const __m256i *)(quants + 32 * r));
            for (int t = 0; t < nt; t++) {
                const __m256i y = _mm256_load_si256((const __m256i *)(act[t] + b * 32));
                const __m256 sum = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(q, y), ones));
                acc[r][t] = _mm256_fmadd_ps(_mm256_broadcast_ss(dd[t] + b * CK_GROUP + r), sum, acc[r][t]);
            }
        }
    }
    store_tile(acc, nt, mins, out);
}

// One (row, token) of tile3_q4_1's block: quants of row R in ymm12, token T's activations and
// scale products at %[yT] and %[dT], accumulator %[aRT]; ymm13 and ymm14 are scratch.
#define Q4_1_PAIR(R, T)                                                                                                    \
    "vpmaddubsw (%[y" #T "]), %%ymm12, %%ymm13\n\t"                                                                        \
    "vpmaddwd %[ones], %%ymm13, %%ymm13\n\t"                                                                              \
    "vcvtdq2ps %%ymm13, %%ymm13\n\t"                                                                                      \
    "vbroadcastss " #R "*4(%[d" #T "]), %%ymm14\n\t"                                                                      \
    "vfmadd231ps %%ymm14, %%ymm13, %[a" #R #T "]\n\t"
#define Q4_1_ROW(R) "vmovdqa " #R "*32(%[u]), %%ymm12\n\t" Q4_1_PAIR(R, 0) Q4_1_PAIR(R, 1) Q4_1_PAIR(R, 2)

/// tile_q4_1 for three tokens, its block loop written out: the compiler's schedule of the same
/// loop loads several rows' quants ahead and spills accumulators to the stack (12 accumulators,
/// the quants, two scratch registers and the ones fill the 16 registers exactly). Same
/// instructions per (row, token, block) as tile_q4_1, so the same bits.
CK_AVX2 static void tile3_q4_1(const ck_packed *p, const float *const dd[3], const uint8_t *const act[3], const uint8_t *quants,
                               const float *mins, float *const out[3]) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
    __m256 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
    const uint8_t *u = quants, *y0 = act[0], *y1 = act[1], *y2 = act[2];
    const float *d0 = dd[0], *d1 = dd[1], *d2 = dd[2];
    int64_t n = p->nb;
    if (n > 0)
        __asm__("1:\n\t" Q4_1_ROW(0) Q4_1_ROW(1) Q4_1_ROW(2) Q4_1_ROW(3)
                "add $128, %[u]\n\t"
                "add $32, %[y0]\n\t"
                "add $32, %[y1]\n\t"
                "add $32, %[y2]\n\t"
                "add $16, %[d0]\n\t"
                "add $16, %[d1]\n\t"
                "add $16, %[d2]\n\t"
                "dec %[n]\n\t"
                "jnz 1b\n\t"
                : [a00] "+x"(a00), [a01] "+x"(a01), [a02] "+x"(a02), [a10] "+x"(a10), [a11] "+x"(a11), [a12] "+x"(a12),
                  [a20] "+x"(a20), [a21] "+x"(a21), [a22] "+x"(a22), [a30] "+x"(a30), [a31] "+x"(a31), [a32] "+x"(a32),
                  [u] "+r"(u), [y0] "+r"(y0), [y1] "+r"(y1), [y2] "+r"(y2), [d0] "+r"(d0), [d1] "+r"(d1), [d2] "+r"(d2), [n] "+r"(n)
                : [ones] "x"(ones)
                : "xmm12", "xmm13", "xmm14", "memory", "cc");
    const __m256 acc[4][3] = { { a00, a01, a02 }, { a10, a11, a12 }, { a20, a21, a22 }, { a30, a31, a32 } };
    store_tile(acc, 3, mins, out);
}
#undef Q4_1_ROW
#undef Q4_1_PAIR

CK_AVX2 void ck__packed_tile_q4_1(const ck_packed *p, int64_t g, int nt, const float *const dd[3], const uint8_t *const act[3],
                                  const uint8_t *quants, const float *mins, float *const out[3]) {
    (void)g;
    if (nt == 3) tile3_q4_1(p, dd, act, quants, mins, out);
    else tile_q4_1(p, 2, dd, act, quants, mins, out);
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
    store_tile(acc, nt, NULL, out);
}

CK_AVX2 void ck__packed_tile_q8_0(const ck_packed *p, int64_t g, int nt, const float *const dd[3], const uint8_t *const act[3],
                                  const uint8_t *quants, const float *mins, float *const out[3]) {
    (void)quants, (void)mins;
    if (nt == 3) tile_q8_0(p, g, 3, dd, act, out);
    else tile_q8_0(p, g, 2, dd, act, out);
}
#endif
