// Quantized weights repacked at load into a four-row interleaved layout for the GEMV/GEMM.
//
// The arithmetic per output row is exactly the single-row vec-dot's (ggml's order): the same
// integer block sums, the same f32 scale products, the same fused accumulation chains and the
// same final horizontal sum. Only the bytes move: four consecutive rows form a group, and for
// each block column the group stores
//   Q8_0: the four f16 scales together (in a scale area at the front of the group) and the
//         four rows' 32 quants one after another (128 bytes),
//   Q4_0/Q4_1: the four f16 scales (and four f16 mins) together, and the nibbles as two
//         32-byte chunks where byte k of chunk A holds row 0's element k in its low nibble and
//         row 1's element k in its high nibble (chunk B: rows 2 and 3). One AND and one shift
//         give a whole row's 32 quants in element order, instead of a load, shift, insert and
//         AND per row in GGUF's layout.
// Several matrices with the same input (Q, K, V; gate, up) can be stacked into one packed
// matrix so a decode step runs them as one pool job.
#include "ck_internal.h"

#include <stdlib.h>
#include <string.h>

#define CK_GROUP 4

struct ck_packed {
    int type;
    int64_t rows, cols, nb, groups;
    size_t scale_bytes;  // bytes of the scale area at the front of each group (multiple of 32)
    size_t group_bytes;  // multiple of 64
    uint8_t *data;
};

static size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

int ck_packed_type_supported(int type) {
    return type == CK_Q4_0 || type == CK_Q4_1 || type == CK_Q8_0;
}

ck_packed *ck_pack_weights(int type, int n_parts, const void *const *parts, const int64_t *part_rows, int64_t cols) {
    if (!ck_packed_type_supported(type) || cols <= 0 || cols % CK_QK != 0 || n_parts <= 0) return NULL;
    int64_t rows = 0;
    for (int i = 0; i < n_parts; i++) {
        if (part_rows[i] <= 0 || part_rows[i] % CK_GROUP != 0 || !parts[i]) return NULL;
        rows += part_rows[i];
    }
    ck_packed *p = calloc(1, sizeof(ck_packed));
    if (!p) return NULL;
    p->type = type;
    p->rows = rows;
    p->cols = cols;
    p->nb = cols / CK_QK;
    p->groups = rows / CK_GROUP;
    const size_t per_scale = (size_t)p->nb * CK_GROUP * 2;
    p->scale_bytes = round_up(type == CK_Q4_1 ? 2 * per_scale : per_scale, 32);
    const size_t quant_bytes = (size_t)p->nb * CK_GROUP * (type == CK_Q8_0 ? 32 : 16);
    p->group_bytes = round_up(p->scale_bytes + quant_bytes, 64);
    p->data = ck_weights_alloc(p->group_bytes * (size_t)p->groups);
    if (!p->data) {
        free(p);
        return NULL;
    }
    memset(p->data, 0, p->group_bytes * (size_t)p->groups);
    const size_t row_bytes = ck_row_size(type, cols);
    int64_t g = 0;
    for (int part = 0; part < n_parts; part++) {
        for (int64_t pg = 0; pg < part_rows[part] / CK_GROUP; pg++, g++) {
            uint8_t *dst = p->data + (size_t)g * p->group_bytes;
            uint16_t *d = (uint16_t *)dst;
            uint16_t *m = d + p->nb * CK_GROUP;
            uint8_t *qs = dst + p->scale_bytes;
            for (int r = 0; r < CK_GROUP; r++) {
                const uint8_t *src = (const uint8_t *)parts[part] + (size_t)(pg * CK_GROUP + r) * row_bytes;
                for (int64_t b = 0; b < p->nb; b++) {
                    if (type == CK_Q8_0) {
                        const ck_block_q8_0 *x = (const ck_block_q8_0 *)src + b;
                        d[b * CK_GROUP + r] = x->d;
                        memcpy(qs + (size_t)b * 128 + (size_t)r * 32, x->qs, 32);
                    } else {
                        const uint8_t *nib;
                        if (type == CK_Q4_1) {
                            const ck_block_q4_1 *x = (const ck_block_q4_1 *)src + b;
                            d[b * CK_GROUP + r] = x->d;
                            m[b * CK_GROUP + r] = x->m;
                            nib = x->qs;
                        } else {
                            const ck_block_q4_0 *x = (const ck_block_q4_0 *)src + b;
                            d[b * CK_GROUP + r] = x->d;
                            nib = x->qs;
                        }
                        uint8_t *chunk = qs + (size_t)b * 64 + (size_t)(r / 2) * 32;
                        const int shift = (r % 2) * 4;
                        for (int k = 0; k < CK_QK / 2; k++) {
                            chunk[k] |= (uint8_t)((nib[k] & 0x0f) << shift);
                            chunk[k + CK_QK / 2] |= (uint8_t)((nib[k] >> 4) << shift);
                        }
                    }
                }
            }
        }
    }
    return p;
}

void ck_packed_free(ck_packed *p) {
    if (!p) return;
    ck_weights_free(p->data, p->group_bytes * (size_t)p->groups);
    free(p);
}

int64_t ck_packed_rows(const ck_packed *p) { return p ? p->rows : 0; }
size_t ck_packed_bytes(const ck_packed *p) { return p ? p->group_bytes * (size_t)p->groups : 0; }

void ck_packed_row(const ck_packed *p, int64_t row, void *out) {
    const int64_t g = row / CK_GROUP, r = row % CK_GROUP;
    const uint8_t *src = p->data + (size_t)g * p->group_bytes;
    const uint16_t *d = (const uint16_t *)src;
    const uint16_t *m = d + p->nb * CK_GROUP;
    const uint8_t *qs = src + p->scale_bytes;
    for (int64_t b = 0; b < p->nb; b++) {
        if (p->type == CK_Q8_0) {
            ck_block_q8_0 *x = (ck_block_q8_0 *)out + b;
            x->d = d[b * CK_GROUP + r];
            memcpy(x->qs, qs + (size_t)b * 128 + (size_t)r * 32, 32);
            continue;
        }
        uint8_t *nib;
        if (p->type == CK_Q4_1) {
            ck_block_q4_1 *x = (ck_block_q4_1 *)out + b;
            x->d = d[b * CK_GROUP + r];
            x->m = m[b * CK_GROUP + r];
            nib = x->qs;
        } else {
            ck_block_q4_0 *x = (ck_block_q4_0 *)out + b;
            x->d = d[b * CK_GROUP + r];
            nib = x->qs;
        }
        const uint8_t *chunk = qs + (size_t)b * 64 + (size_t)(r / 2) * 32;
        const int shift = (r % 2) * 4;
        for (int k = 0; k < CK_QK / 2; k++) {
            nib[k] = (uint8_t)(((chunk[k] >> shift) & 0x0f) | (((chunk[k + CK_QK / 2] >> shift) & 0x0f) << 4));
        }
    }
}

// MARK: - Activations for the packed kernels
//
// Per token: nb x 32 int8 quants, then nb f32 scales d, then (Q8_1) nb f32 sums s: the values
// of ck_prepare_activation's Q8_0/Q8_1 blocks with the f16 scales widened once per matmul
// instead of once per row.

static size_t packed_act_bytes(const ck_packed *p) {
    return round_up((size_t)p->nb * (32 + 8), 64);
}

static void pack_activation(const ck_packed *p, const float *x, uint8_t *dst) {
    int8_t *qs = (int8_t *)dst;
    float *d = (float *)(dst + (size_t)p->nb * 32);
    float *s = d + p->nb;
    for (int64_t b = 0; b < p->nb; b++) {
        if (p->type == CK_Q4_1) {
            ck_block_q8_1 blk;
            ck_quantize_row_q8_1(x + b * CK_QK, &blk, CK_QK);
            memcpy(qs + b * 32, blk.qs, 32);
            d[b] = ck_fp16_to_fp32(blk.d);
            s[b] = ck_fp16_to_fp32(blk.s);
        } else {
            ck_block_q8_0 blk;
            ck_quantize_row_q8_0(x + b * CK_QK, &blk, CK_QK);
            memcpy(qs + b * 32, blk.qs, 32);
            d[b] = ck_fp16_to_fp32(blk.d);
        }
    }
}

typedef void (*group_kernel)(const ck_packed *p, int64_t g, const uint8_t *act, float out[4]);

/// Scalar path (no AVX2, or ck_set_force_scalar): rebuild each row and run the reference dot
/// on the rebuilt activation blocks.
static void group_ref(const ck_packed *p, int64_t g, const uint8_t *act, float out[4]) {
    const size_t row_bytes = ck_row_size(p->type, p->cols);
    const int act_type = ck_activation_type(p->type);
    const size_t act_bytes = ck_row_size(act_type, p->cols);
    uint8_t *w = malloc(row_bytes), *a = malloc(act_bytes);
    if (!w || !a) {
        free(w);
        free(a);
        for (int r = 0; r < 4; r++) out[r] = 0.0f;
        return;
    }
    const int8_t *qs = (const int8_t *)act;
    const float *d = (const float *)(act + (size_t)p->nb * 32);
    const float *s = d + p->nb;
    for (int64_t b = 0; b < p->nb; b++) {
        if (act_type == CK_Q8_1) {
            ck_block_q8_1 *y = (ck_block_q8_1 *)a + b;
            y->d = ck_fp32_to_fp16(d[b]);
            y->s = ck_fp32_to_fp16(s[b]);
            memcpy(y->qs, qs + b * 32, 32);
        } else {
            ck_block_q8_0 *y = (ck_block_q8_0 *)a + b;
            y->d = ck_fp32_to_fp16(d[b]);
            memcpy(y->qs, qs + b * 32, 32);
        }
    }
    for (int r = 0; r < 4; r++) {
        ck_packed_row(p, g * CK_GROUP + r, w);
        out[r] = ck_vec_dot_ref(p->type, p->cols, w, a);
    }
    free(w);
    free(a);
}

#if defined(__x86_64__)
#include <immintrin.h>

/// The four rows' d_x * d_y, each broadcast to 8 lanes.
#define SCALES4(dx16, dy)                                                                   \
    const __m128 dd_ = _mm_mul_ps(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(dx16))), dy); \
    const __m256 dd2_ = _mm256_set_m128(dd_, dd_);                                          \
    const __m256 D0 = _mm256_permute_ps(dd2_, 0x00), D1 = _mm256_permute_ps(dd2_, 0x55);   \
    const __m256 D2 = _mm256_permute_ps(dd2_, 0xaa), D3 = _mm256_permute_ps(dd2_, 0xff)

CK_AVX2 static void group_q4_1(const ck_packed *p, int64_t g, const uint8_t *act, float out[4]) {
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

CK_AVX2 static void group_q4_0(const ck_packed *p, int64_t g, const uint8_t *act, float out[4]) {
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

CK_AVX2 static void group_q8_0(const ck_packed *p, int64_t g, const uint8_t *act, float out[4]) {
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
CK_AVX2 static void expand_scales(const ck_packed *p, int64_t g, float *dx8) {
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

CK_AVX2 static void tile_q4_1(const ck_packed *p, int64_t g, const float *dx8, const uint8_t *act0, const uint8_t *act1,
                              float out0[4], float out1[4]) {
    tile2_q4_1(p, g, 0, dx8, act0, act1, out0, out1);
    tile2_q4_1(p, g, 2, dx8, act0, act1, out0, out1);
}

/// Three tokens x the group's four rows of Q4_1, as tile_q4_1 (each (row, token) in
/// group_q4_1's order): each block's nibbles unpacked and its mins converted once for all three.
CK_AVX2 static void tile3_q4_1(const ck_packed *p, int64_t g, const float *dx8, const uint8_t *const act[3],
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
CK_AVX2 static void tile_q8_0(const ck_packed *p, int64_t g, const float *dx8, const uint8_t *act0, const uint8_t *act1,
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
CK_AVX2 static void tile3_q8_0(const ck_packed *p, int64_t g, const float *dx8, const uint8_t *const act[3],
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

typedef void (*tile_kernel)(const ck_packed *p, int64_t g, const float *dx8, const uint8_t *act0, const uint8_t *act1,
                            float out0[4], float out1[4]);
typedef void (*tile3_kernel)(const ck_packed *p, int64_t g, const float *dx8, const uint8_t *const act[3],
                             float *const out[3]);

static tile_kernel tile_kernel_for(int type) {
#if defined(__x86_64__)
    if (ck__use_simd()) {
        if (type == CK_Q4_1) return tile_q4_1;
        if (type == CK_Q8_0) return tile_q8_0;
    }
#endif
    (void)type;
    return NULL;
}

static tile3_kernel tile3_kernel_for(int type) {
#if defined(__x86_64__)
    if (ck__use_simd() && type == CK_Q8_0) return tile3_q8_0;
    if (ck__use_simd() && type == CK_Q4_1) return tile3_q4_1;
#endif
    (void)type;
    return NULL;
}

static group_kernel kernel_for(int type) {
#if defined(__x86_64__)
    if (ck__use_simd()) {
        switch (type) {
        case CK_Q4_0: return group_q4_0;
        case CK_Q4_1: return group_q4_1;
        case CK_Q8_0: return group_q8_0;
        default: break;
        }
    }
#endif
    (void)type;
    return group_ref;
}

typedef struct {
    const ck_packed *p;
    group_kernel kernel;
    tile_kernel tile; // NULL: one token at a time
    tile3_kernel tile3; // NULL: two tokens at a time at most
    const uint8_t *act;
    size_t act_bytes;
    int64_t n_tok;
    float *y;
    float *scales; // per thread: nb x 4 x 8 floats
    size_t scales_per_thread;
} packed_job;

/// Tokens per pass over a chunk of groups: their activations stay in L2 while the chunk's
/// weights are reused from cache.
#define CK_TOKEN_TILE 64

static void packed_groups(void *raw, int64_t begin, int64_t end, int thread_index) {
    const packed_job *job = raw;
    const int64_t rows = job->p->rows;
    float *dx8 = job->scales ? job->scales + (size_t)thread_index * job->scales_per_thread : NULL;
    for (int64_t t0 = 0; t0 < job->n_tok; t0 += CK_TOKEN_TILE) {
        const int64_t t1 = t0 + CK_TOKEN_TILE < job->n_tok ? t0 + CK_TOKEN_TILE : job->n_tok;
        for (int64_t g = begin; g < end; g++) {
            int64_t t = t0;
            if (job->tile && dx8 && t1 - t0 >= 2) {
#if defined(__x86_64__)
                expand_scales(job->p, g, dx8);
#endif
                for (; job->tile3 && t + 3 <= t1; t += 3) {
                    const uint8_t *const act[3] = { job->act + (size_t)t * job->act_bytes, job->act + (size_t)(t + 1) * job->act_bytes,
                                                    job->act + (size_t)(t + 2) * job->act_bytes };
                    float *const out[3] = { job->y + t * rows + g * CK_GROUP, job->y + (t + 1) * rows + g * CK_GROUP,
                                            job->y + (t + 2) * rows + g * CK_GROUP };
                    job->tile3(job->p, g, dx8, act, out);
                }
                for (; t + 2 <= t1; t += 2) {
                    job->tile(job->p, g, dx8, job->act + (size_t)t * job->act_bytes, job->act + (size_t)(t + 1) * job->act_bytes,
                              job->y + t * rows + g * CK_GROUP, job->y + (t + 1) * rows + g * CK_GROUP);
                }
            }
            for (; t < t1; t++) {
                float out[4];
                job->kernel(job->p, g, job->act + (size_t)t * job->act_bytes, out);
                memcpy(job->y + t * rows + g * CK_GROUP, out, sizeof out);
            }
        }
    }
}

typedef struct {
    const ck_packed *p;
    const float *x;
    uint8_t *act;
    size_t act_bytes;
} packed_prep_job;

static void packed_prepare(void *raw, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    const packed_prep_job *job = raw;
    for (int64_t t = begin; t < end; t++) pack_activation(job->p, job->x + t * job->p->cols, job->act + (size_t)t * job->act_bytes);
}

void ck_matmul_packed(ck_pool *pool, const ck_packed *p, const float *X, int64_t n_tok, float *Y) {
    if (!p || n_tok <= 0) return;
    const size_t act_bytes = packed_act_bytes(p);
    if (pool) ck__pool_lock_op(pool);
    uint8_t *act = pool ? ck__pool_scratch(pool, 0, act_bytes * (size_t)n_tok) : NULL;
    uint8_t *owned = NULL;
    if (!pool) {
        if (posix_memalign((void **)&owned, 64, act_bytes * (size_t)n_tok) != 0) owned = NULL;
        act = owned;
    }
    if (!act) {
        if (pool) ck__pool_unlock_op(pool);
        memset(Y, 0, sizeof(float) * (size_t)(p->rows * n_tok));
        return;
    }
    packed_prep_job prep = { p, X, act, act_bytes };
    ck_pool_run(pool, n_tok, 8, packed_prepare, &prep);
    packed_job job = { p, kernel_for(p->type), n_tok > 1 ? tile_kernel_for(p->type) : NULL, n_tok > 2 ? tile3_kernel_for(p->type) : NULL,
                       act, act_bytes, n_tok, Y, NULL, 0 };
    if (job.tile) {
        job.scales_per_thread = (size_t)p->nb * 32;
        const int threads = ck_pool_threads(pool);
        job.scales = pool ? ck__pool_scratch(pool, 2, sizeof(float) * job.scales_per_thread * (size_t)threads) : NULL;
        if (!job.scales) job.tile = NULL;
    }
    // Groups of four rows; several chunks per thread balance the two cores.
    ck_pool_run(pool, p->groups, 4, packed_groups, &job);
    if (pool) ck__pool_unlock_op(pool);
    free(owned);
}
