// The packed kernels of Q5_0, Q5_1 and IQ4_NL (layout in ck_packed.c): a group's four rows
// against one token, each output in its single-row dot's order (ck_q5_0.c, ck_q5_1.c,
// ck_iq4_nl.c), and the groups' blocks for the panel GEMM that runs their batches.
//
// The nibbles are Q4's (two rows per 32-byte chunk, element order); Q5's fifth bits take 16
// bytes per block for the four rows: byte k holds element k's bit of row r in bit r and element
// k + 16's in bit 4 + r. Widened once per block to 32 bytes (the high nibbles moved down for
// elements 16-31), a left shift by 4 - r brings row r's bit to bit 4 of every byte: one shift and
// one AND per row, where GGUF's layout needs a broadcast, shuffle, AND and compare.
#include "ck_packed_internal.h"

#include <string.h>

/// Row r's unsigned quants of block b (Q5: nibble | fifth bit << 4; IQ4_NL: table indices).
static void row_quants_ref(const ck_packed *p, const uint8_t *group, int64_t b, int r, uint8_t u[CK_QK]) {
    const uint8_t *chunk = group + p->scale_bytes + (size_t)b * 64 + (size_t)(r / 2) * 32;
    const uint8_t *high = p->high_offset ? group + p->high_offset + (size_t)b * 16 : NULL;
    for (int k = 0; k < CK_QK; k++) {
        u[k] = (uint8_t)((chunk[k] >> (4 * (r % 2))) & 0x0f);
        if (high) u[k] |= (uint8_t)(((high[k % 16] >> (r + 4 * (k / 16))) & 1) << 4);
    }
}

#if defined(__x86_64__)

/// The fifth bits of block b widened: byte k's bit r = row r's bit of element k (k < 32).
CK_AVX2 static inline __m256i fifth_bits(const uint8_t *high) {
    const __m128i h = _mm_load_si128((const __m128i *)high);
    return _mm256_set_m128i(_mm_srli_epi16(h, 4), h);
}

/// Row r's unsigned 5-bit quants from its nibbles (already in the low 4 bits of each byte).
#define Q5_ROW(nibbles, H, r) _mm256_or_si256(nibbles, _mm256_and_si256(_mm256_slli_epi16(H, 4 - (r)), _mm256_set1_epi8(0x10)))

/// The four rows' nibbles of block b.
#define NIBBLES4(qs, b, low, n)                                                                 \
    const __m256i a_ = _mm256_load_si256((const __m256i *)((qs) + (b) * 64));                  \
    const __m256i c_ = _mm256_load_si256((const __m256i *)((qs) + (b) * 64 + 32));             \
    const __m256i n[4] = { _mm256_and_si256(a_, low), _mm256_and_si256(_mm256_srli_epi16(a_, 4), low), \
                           _mm256_and_si256(c_, low), _mm256_and_si256(_mm256_srli_epi16(c_, 4), low) }

/// As ck__dot4_q5_0_q8_0_avx2: the lane sums from the unsigned quants, sum q * y - 16 * sum y,
/// with d_x * d_y into one FMA chain per row and lane.
CK_AVX2 void ck__packed_group_q5_0(const ck_packed *p, int64_t g, const uint8_t *act, float out[4]) {
    const uint8_t *base = p->data + (size_t)g * p->group_bytes;
    const uint16_t *dx = (const uint16_t *)base;
    const uint8_t *qs = base + p->scale_bytes, *high = base + p->high_offset;
    const int8_t *qy = (const int8_t *)act;
    const float *dy = (const float *)(act + (size_t)p->nb * 32);
    const __m256i low = _mm256_set1_epi8(0x0f), ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    for (int64_t b = 0; b < p->nb; b++) {
        const __m256i y = _mm256_load_si256((const __m256i *)(qy + b * 32));
        const __m256i y16 = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(ones8, y), ones16), 4);
        SCALES4(dx + b * CK_GROUP, _mm_broadcast_ss(dy + b));
        const __m256 D[4] = { D0, D1, D2, D3 };
        NIBBLES4(qs, b, low, n);
        const __m256i H = fifth_bits(high + b * 16);
        for (int r = 0; r < 4; r++) {
            const __m256i u = Q5_ROW(n[r], H, r);
            const __m256i lanes = _mm256_sub_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(u, y), ones16), y16);
            acc[r] = _mm256_fmadd_ps(D[r], _mm256_cvtepi32_ps(lanes), acc[r]);
        }
    }
    for (int r = 0; r < 4; r++) out[r] = ck__hsum8(acc[r]);
}

/// As ck__dot_q5_1_q8_1_avx2 per row: the m * s chain fused, d_x * d_y times the lane sums.
CK_AVX2 void ck__packed_group_q5_1(const ck_packed *p, int64_t g, const uint8_t *act, float out[4]) {
    const uint8_t *base = p->data + (size_t)g * p->group_bytes;
    const uint16_t *dx = (const uint16_t *)base, *mx = dx + p->nb * CK_GROUP;
    const uint8_t *qs = base + p->scale_bytes, *high = base + p->high_offset;
    const int8_t *qy = (const int8_t *)act;
    const float *dy = (const float *)(act + (size_t)p->nb * 32), *sy = dy + p->nb;
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    __m128 mins = _mm_setzero_ps();
    for (int64_t b = 0; b < p->nb; b++) {
        mins = _mm_fmadd_ps(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(mx + b * CK_GROUP))), _mm_broadcast_ss(sy + b), mins);
        const __m256i y = _mm256_load_si256((const __m256i *)(qy + b * 32));
        SCALES4(dx + b * CK_GROUP, _mm_broadcast_ss(dy + b));
        const __m256 D[4] = { D0, D1, D2, D3 };
        NIBBLES4(qs, b, low, n);
        const __m256i H = fifth_bits(high + b * 16);
        for (int r = 0; r < 4; r++) acc[r] = _mm256_fmadd_ps(ck__dot_u8_s8(Q5_ROW(n[r], H, r), y), D[r], acc[r]);
    }
    float m[4];
    _mm_storeu_ps(m, mins);
    for (int r = 0; r < 4; r++) out[r] = ck__hsum8(acc[r]) + m[r];
}

/// As ck__dot4_iq4_nl_q8_0_avx2: each row's exact block dot, the four reduced together, one
/// FMA per row and block with d_x * d_y.
CK_AVX2 void ck__packed_group_iq4_nl(const ck_packed *p, int64_t g, const uint8_t *act, float out[4]) {
    const uint8_t *base = p->data + (size_t)g * p->group_bytes;
    const uint16_t *dx = (const uint16_t *)base;
    const uint8_t *qs = base + p->scale_bytes;
    const int8_t *qy = (const int8_t *)act;
    const float *dy = (const float *)(act + (size_t)p->nb * 32);
    const __m256i low = _mm256_set1_epi8(0x0f), ones16 = _mm256_set1_epi16(1);
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)ck__iq4nl_table));
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < p->nb; b++) {
        const __m256i y = _mm256_load_si256((const __m256i *)(qy + b * 32));
        NIBBLES4(qs, b, low, n);
        __m256i lanes[4];
        for (int r = 0; r < 4; r++) {
            const __m256i q = _mm256_shuffle_epi8(table, n[r]);
            lanes[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(y, q)), ones16);
        }
        const __m128i sums = ck__hsum4_i32(lanes[0], lanes[1], lanes[2], lanes[3]);
        const __m128 dd = _mm_mul_ps(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(dx + b * CK_GROUP))), _mm_broadcast_ss(dy + b));
        acc = _mm_fmadd_ps(_mm_cvtepi32_ps(sums), dd, acc);
    }
    _mm_storeu_ps(out, acc);
}

/// Row r's values of block b for the panel GEMM (see ck__packed_block32).
CK_AVX2 static void block32_avx2(const ck_packed *p, const uint8_t *group, int64_t b, int r, int8_t q[CK_QK]) {
    const __m256i low = _mm256_set1_epi8(0x0f);
    const __m256i chunk = _mm256_load_si256((const __m256i *)(group + p->scale_bytes + (size_t)b * 64 + (size_t)(r / 2) * 32));
    const __m256i nib = _mm256_and_si256(r % 2 ? _mm256_srli_epi16(chunk, 4) : chunk, low);
    __m256i v;
    if (p->type == CK_IQ4_NL) {
        v = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)ck__iq4nl_table)), nib);
    } else {
        const __m256i H = fifth_bits(group + p->high_offset + (size_t)b * 16);
        const __m256i u = _mm256_or_si256(nib, _mm256_and_si256(_mm256_sllv_epi32(H, _mm256_set1_epi32(4 - r)), _mm256_set1_epi8(0x10)));
        v = p->type == CK_Q5_0 ? _mm256_sub_epi8(u, _mm256_set1_epi8(16)) : u;
    }
    _mm256_storeu_si256((__m256i *)q, v);
}
#endif

void ck__packed_block32(const ck_packed *p, int64_t g, int64_t b, int r, int8_t q[CK_QK], float *d, float *m) {
    const uint8_t *group = p->data + (size_t)g * p->group_bytes;
    const uint16_t *dx = (const uint16_t *)group;
    *d = ck_fp16_to_fp32(dx[b * CK_GROUP + r]);
    *m = p->type == CK_Q5_1 ? ck_fp16_to_fp32(dx[p->nb * CK_GROUP + b * CK_GROUP + r]) : 0.0f;
#if defined(__x86_64__)
    if (ck__use_simd()) {
        block32_avx2(p, group, b, r, q);
        return;
    }
#endif
    uint8_t u[CK_QK];
    row_quants_ref(p, group, b, r, u);
    for (int k = 0; k < CK_QK; k++) {
        q[k] = p->type == CK_IQ4_NL ? ck__iq4nl_table[u[k]] : p->type == CK_Q5_0 ? (int8_t)(u[k] - 16) : (int8_t)u[k];
    }
}
