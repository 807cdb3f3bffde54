// The four-row packed weight layout (ck_packed.c) shared with its products (ck_packed_matmul.c), kernels (ck_packed_q4.c,
// ck_packed_q5.c, ck_packed_vnni.c) and the panel GEMM (ck_block32_gemm.c).
#ifndef CK_PACKED_INTERNAL_H
#define CK_PACKED_INTERNAL_H

#include "ck_internal.h"

#define CK_GROUP 4

struct ck_packed {
    int type;
    int64_t rows, cols, nb, groups;
    size_t scale_bytes;  // bytes of the scale area at the front of each group (multiple of 32)
    size_t high_offset;  // Q5_0/Q5_1: offset in the group of the fifth bits (nb x 16 bytes), else 0
    size_t group_bytes;  // multiple of 64 (K-quants: exactly four rows' bytes)
    int n_parts;         // the stacked matrices (K-quants: llama.cpp's order depends on each one's rows)
    int64_t part_rows[CK_MATMUL_MAX_PARTS];
    uint8_t *data;
};

/// Where a token's packed activations (ck_packed_matmul.c) keep their scales' pairs, 32-byte
/// aligned: after the quants, scales and sums.
#define CK_ACT_PAIRS_OFFSET(nb) ck__round_up((size_t)(nb) * (32 + 8), 64)

/// One group's four rows against one token's packed activations (see ck_packed.c).
typedef void (*ck_packed_group_fn)(const ck_packed *p, int64_t g, const uint8_t *act, float out[4]);
/// nt (2 or 3) tokens x the group's four rows; dd[t] holds token t's scale products with the
/// group (ck__packed_scale_products); for Q4_1 quants and mins are the pass's unpacked quants
/// and the first token's sums of mins (ck__packed_prepare_q4_1), NULL for Q8_0.
typedef void (*ck_packed_tile_fn)(const ck_packed *p, int64_t g, int nt, const float *const dd[3], const uint8_t *const act[3],
                                  const uint8_t *quants, const float *mins, float *const out[3]);

/// Tokens per AVX-512 VNNI tile (ck_packed_vnni.c): two registers of accumulators per token.
#define CK_VNNI_TILE 8
/// nt (1 ... CK_VNNI_TILE) tokens x the group's four rows, the scale products formed in the tile.
/// The tile's first token is a multiple of 4; for types with a min, quad_sums holds its tokens'
/// activation sums four at a time (ck_packed_matmul.c: CK_QUAD_SUMS), else it is NULL.
typedef void (*ck_packed_wide_tile_fn)(const ck_packed *p, int64_t g, int nt, const uint8_t *const *act, const float *quad_sums,
                                       float *const *out);
/// Quad sums: for tokens 4q ... 4q + 3 and block b, 16 floats at (q * nb + b) * 16, token 4q + i's
/// sum s_b in lanes 4i ... 4i + 3 (0 past the last token), so one FMA takes the four rows' mins
/// of four tokens.
#define CK_QUAD_SUMS(nb, q, b) (((size_t)(q) * (size_t)(nb) + (size_t)(b)) * 16)

/// 1 for the types whose batches run through the panel GEMM (Q5_0, Q5_1, IQ4_NL).
int ck__packed_uses_panel(int type);
/// Row r (< 4) of group g, block b, for the panel GEMM: the values ck__block32_q5_0 /
/// ck__block32_q5_1 / IQ4_NL's table give for the original block, its scale and min.
void ck__packed_block32(const ck_packed *p, int64_t g, int64_t b, int r, int8_t q[CK_QK], float *d, float *m);
/// The panel GEMM over a packed matrix of such a type: act holds n_tok rows of GGUF-layout
/// activations (ck_prepare_activation), Y is n_tok x p->rows.
void ck__matmul_block32_packed(ck_pool *pool, const ck_packed *p, const uint8_t *act, size_t act_row_bytes, int64_t n_tok,
                               float *Y);

#if defined(__x86_64__)
#include <immintrin.h>

/// The four rows' d_x * d_y, each broadcast to 8 lanes.
#define SCALES4(dx16, dy)                                                                   \
    const __m128 dd_ = _mm_mul_ps(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(dx16))), dy); \
    const __m256 dd2_ = _mm256_set_m128(dd_, dd_);                                          \
    const __m256 D0 = _mm256_permute_ps(dd2_, 0x00), D1 = _mm256_permute_ps(dd2_, 0x55);   \
    const __m256 D2 = _mm256_permute_ps(dd2_, 0xaa), D3 = _mm256_permute_ps(dd2_, 0xff)

// ck_packed_q4.c
void ck__packed_group_q4_0(const ck_packed *p, int64_t g, const uint8_t *act, float out[4]);
void ck__packed_group_q4_1(const ck_packed *p, int64_t g, const uint8_t *act, float out[4]);
void ck__packed_group_q8_0(const ck_packed *p, int64_t g, const uint8_t *act, float out[4]);
/// Prefill: dd[t * 4 nb + 4 b + r] = d_x[b][r] * d_y_t[b] for n tokens' packed activations.
void ck__packed_scale_products(const ck_packed *p, int64_t g, const uint8_t *act, size_t act_bytes, int64_t n, float *dd);
/// Prefill, Q4_1: group g's quants as bytes (nb x 128, 32-byte aligned) and n tokens' sums of
/// mins (mins[4 t + r], 4 (n + 1) floats written) for its tiles, from the quad sums of the
/// pass's first token (a multiple of 4).
void ck__packed_prepare_q4_1(const ck_packed *p, int64_t g, const float *quad_sums, int64_t n, uint8_t *quants, float *mins);
void ck__packed_tile_q4_1(const ck_packed *p, int64_t g, int nt, const float *const dd[3], const uint8_t *const act[3],
                          const uint8_t *quants, const float *mins, float *const out[3]);
void ck__packed_tile_q8_0(const ck_packed *p, int64_t g, int nt, const float *const dd[3], const uint8_t *const act[3],
                          const uint8_t *quants, const float *mins, float *const out[3]);

// ck_packed_vnni.c (only called when ck__use_avx512_vnni())
void ck__packed_vnni_tile_q4_1(const ck_packed *p, int64_t g, int nt, const uint8_t *const *act, const float *quad_sums,
                               float *const *out);
void ck__packed_vnni_tile_q8_0(const ck_packed *p, int64_t g, int nt, const uint8_t *const *act, const float *quad_sums,
                               float *const *out);

// ck_packed_q5.c
void ck__packed_group_q5_0(const ck_packed *p, int64_t g, const uint8_t *act, float out[4]);
void ck__packed_group_q5_1(const ck_packed *p, int64_t g, const uint8_t *act, float out[4]);
void ck__packed_group_iq4_nl(const ck_packed *p, int64_t g, const uint8_t *act, float out[4]);
#endif

#endif
