// Internal declarations shared by the kernel translation units.
#ifndef CK_INTERNAL_H
#define CK_INTERNAL_H

#include "ckernels.h"

#include <pthread.h>
#include <stdatomic.h>

typedef float (*ck_dot_fn)(int64_t n, const void *w_row, const void *act_row);
/// Four consecutive weight rows (w_stride bytes apart) against one activation row.
typedef void (*ck_dot4_fn)(int64_t n, const void *w, size_t w_stride, const void *act_row, float out[4]);
/// Four consecutive weight rows against two activation rows (prefill), each output in its
/// ck_dot_fn's order.
typedef void (*ck_tile4x2_fn)(int64_t n, const void *w, size_t w_stride, const void *act0, const void *act1,
                              float out0[4], float out1[4]);

/// Scalar reference dots (ck_quant.c).
float ck__dot_q4_0_q8_0_ref(int64_t n, const void *w, const void *a);
float ck__dot_q4_1_q8_1_ref(int64_t n, const void *w, const void *a);
float ck__dot_q8_0_q8_0_ref(int64_t n, const void *w, const void *a);
float ck__dot_f16_f16_ref(int64_t n, const void *w, const void *a);
float ck__dot_f32_f32_ref(int64_t n, const void *w, const void *a);
float ck__dot_bf16_f32_ref(int64_t n, const void *w, const void *a);
void ck__quantize_row_q8_0_ref(const float *x, ck_block_q8_0 *y, int64_t n);
void ck__quantize_row_q8_1_ref(const float *x, ck_block_q8_1 *y, int64_t n);
void ck__fp16_to_fp32_row_ref(const uint16_t *src, float *dst, int64_t n);

/// One file per further type (ck_q5_0.c, ck_q5_1.c, ck_q2_k.c, ck_q3_k.c, ck_q4_k.c, ck_q5_k.c, ck_q6_k.c, ck_iq4_nl.c, ck_iq4_xs.c): dequantization, the scalar
/// reference dot, and the AVX2 single-row and four-row dots, bit-identical to the reference.
void ck__dequantize_row_q5_0(const void *src, float *dst, int64_t n);
float ck__dot_q5_0_q8_0_ref(int64_t n, const void *w, const void *a);
float ck__dot_q5_0_q8_0_avx2(int64_t n, const void *w, const void *a);
void ck__dot4_q5_0_q8_0_avx2(int64_t n, const void *w, size_t w_stride, const void *a, float out[4]);
void ck__tile4x2_q5_0_q8_0_avx2(int64_t n, const void *w, size_t w_stride, const void *a0, const void *a1, float out0[4], float out1[4]);
void ck__dequantize_row_q5_1(const void *src, float *dst, int64_t n);
float ck__dot_q5_1_q8_1_ref(int64_t n, const void *w, const void *a);
float ck__dot_q5_1_q8_1_avx2(int64_t n, const void *w, const void *a);
void ck__dot4_q5_1_q8_1_avx2(int64_t n, const void *w, size_t w_stride, const void *a, float out[4]);
void ck__tile4x2_q5_1_q8_1_avx2(int64_t n, const void *w, size_t w_stride, const void *a0, const void *a1, float out0[4], float out1[4]);
void ck__dequantize_row_iq4_nl(const void *src, float *dst, int64_t n);
float ck__dot_iq4_nl_q8_0_ref(int64_t n, const void *w, const void *a);
float ck__dot_iq4_nl_q8_0_avx2(int64_t n, const void *w, const void *a);
void ck__dot4_iq4_nl_q8_0_avx2(int64_t n, const void *w, size_t w_stride, const void *a, float out[4]);
/// llama.cpp's kvalues_iq4nl (ck_iq4_xs.c), shared by IQ4_NL and IQ4_XS.
extern const int8_t ck__iq4nl_table[16];
void ck__dequantize_row_iq4_xs(const void *src, float *dst, int64_t n);
float ck__dot_iq4_xs_q8_K_ref(int64_t n, const void *w, const void *a);
float ck__dot_iq4_xs_q8_K_avx2(int64_t n, const void *w, const void *a);
void ck__dot4_iq4_xs_q8_K_avx2(int64_t n, const void *w, size_t row_stride, size_t block_stride, const void *a, float out[4]);
void ck__dequantize_row_q2_K(const void *src, float *dst, int64_t n);
float ck__dot_q2_K_q8_K_ref(int64_t n, const void *w, const void *a);
float ck__dot_q2_K_q8_K_avx2(int64_t n, const void *w, const void *a);
void ck__dot4_q2_K_q8_K_avx2(int64_t n, const void *w, size_t row_stride, size_t block_stride, const void *a, float out[4]);
void ck__dequantize_row_q3_K(const void *src, float *dst, int64_t n);
float ck__dot_q3_K_q8_K_ref(int64_t n, const void *w, const void *a);
float ck__dot_q3_K_q8_K_avx2(int64_t n, const void *w, const void *a);
void ck__dot4_q3_K_q8_K_avx2(int64_t n, const void *w, size_t row_stride, size_t block_stride, const void *a, float out[4]);
void ck__dequantize_row_q4_K(const void *src, float *dst, int64_t n);
float ck__dot_q4_K_q8_K_ref(int64_t n, const void *w, const void *a);
float ck__dot_q4_K_q8_K_avx2(int64_t n, const void *w, const void *a);
void ck__dot4_q4_K_q8_K_avx2(int64_t n, const void *w, size_t row_stride, size_t block_stride, const void *a, float out[4]);
void ck__dequantize_row_q5_K(const void *src, float *dst, int64_t n);
float ck__dot_q5_K_q8_K_ref(int64_t n, const void *w, const void *a);
float ck__dot_q5_K_q8_K_avx2(int64_t n, const void *w, const void *a);
void ck__dot4_q5_K_q8_K_avx2(int64_t n, const void *w, size_t row_stride, size_t block_stride, const void *a, float out[4]);
void ck__dequantize_row_q6_K(const void *src, float *dst, int64_t n);
float ck__dot_q6_K_q8_K_ref(int64_t n, const void *w, const void *a);
float ck__dot_q6_K_q8_K_avx2(int64_t n, const void *w, const void *a);
void ck__dot4_q6_K_q8_K_avx2(int64_t n, const void *w, size_t row_stride, size_t block_stride, const void *a, float out[4]);
/// Q4_K/Q5_K sub-block scales and mins from their 12 packed bytes (ggml's get_scale_min_k4).
void ck__unpack_scales_k4(const uint8_t scales[12], int sc[8], int m[8]);

/// One K-quant super-block unpacked for the batch kernels (ck_kquant_matmul.c): weight e is
/// d * sc[e / 16] * q[e] - dmin * m[e / 16] (dmin and m zero for the types without mins), with
/// q the signed integer value and the scales and mins repeated per 16 weights for the types
/// whose sub-blocks hold 32. Every integer product of a block with Q8_K activations is then
/// sum_c sc[c] * (q . q8)_c and sum_c m[c] * bsum_c, exact however it is grouped.
typedef struct {
    int8_t q[CK_QK_K];
    int16_t sc[16];
    int16_t m[16];
    float d, dmin;
} ck_kblock;
/// Each K-quant type's unpacking, beside its layout (ck_q2_k.c ... ck_iq4_xs.c).
void ck__unpack_q2_K(const void *block, ck_kblock *out);
void ck__unpack_q3_K(const void *block, ck_kblock *out);
void ck__unpack_q4_K(const void *block, ck_kblock *out);
void ck__unpack_q5_K(const void *block, ck_kblock *out);
void ck__unpack_q6_K(const void *block, ck_kblock *out);
void ck__unpack_iq4_xs(const void *block, ck_kblock *out);
/// 1 for the K-quant weight types (Q8_K activations) that ck__matmul_kquant multiplies.
int ck__is_kquant(int type);
/// Y[t][r] for a K-quant matrix with llama.cpp's order for each token: `seg_len` splits the
/// n_tok tokens into consecutive sequences (NULL: one sequence of n_tok), and each sequence
/// gets the order llama.cpp's CPU backend gives a batch of that many tokens (ck_kquant_matmul.c).
void ck__matmul_kquant(ck_pool *pool, int type, int n_parts, const void *const *W, const int64_t *rows, int64_t cols,
                       const float *X, int64_t n_tok, int n_seg, const int64_t *seg_len, float *const *Y);
/// The same over K-quant weights packed in four-row groups (ck_packed.c: per group, block b of
/// rows 0-3 one after another): the parts' rows stacked from `data` (multiples of 4), Y is
/// n_tok x (the parts' total rows), each part with llama.cpp's order for its own row count.
void ck__matmul_kquant_groups(ck_pool *pool, int type, int n_parts, const uint8_t *data, const int64_t *rows, int64_t cols,
                              const float *X, int64_t n_tok, int n_seg, const int64_t *seg_len, float *Y);

/// x rounded up to a multiple of `to` (sizes and alignments of buffers and packed groups).
static inline size_t ck__round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

/// ck__hsum8's order on 8 scalar lanes: ((0+4)+(2+6))+((1+5)+(3+7)).
static inline float ck__hsum8_ref(const float v[8]) {
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}
void ck__fp32_to_fp16_row_ref(const float *src, uint16_t *dst, int64_t n);

/// AVX2/FMA/F16C dots (ck_dot_avx2.c); only called when the CPU has them.
float ck__dot_q4_0_q8_0_avx2(int64_t n, const void *w, const void *a);
float ck__dot_q4_1_q8_1_avx2(int64_t n, const void *w, const void *a);
float ck__dot_q8_0_q8_0_avx2(int64_t n, const void *w, const void *a);
float ck__dot_f16_f16_avx2(int64_t n, const void *w, const void *a);
float ck__dot_f32_f32_avx2(int64_t n, const void *w, const void *a);
void ck__quantize_row_q8_0_avx2(const float *x, ck_block_q8_0 *y, int64_t n);
void ck__quantize_row_q8_1_avx2(const float *x, ck_block_q8_1 *y, int64_t n);
void ck__fp16_to_fp32_row_avx2(const uint16_t *src, float *dst, int64_t n);
void ck__dot4_q4_1_q8_1_avx2(int64_t n, const void *w, size_t w_stride, const void *a, float out[4]);
void ck__dot4_q4_0_q8_0_avx2(int64_t n, const void *w, size_t w_stride, const void *a, float out[4]);
void ck__dot4_q8_0_q8_0_avx2(int64_t n, const void *w, size_t w_stride, const void *a, float out[4]);
void ck__fp32_to_fp16_row_avx2(const float *src, uint16_t *dst, int64_t n);
/// ck__dot_f16_f16_avx2 on activations already rounded to f16 and widened (exactly) to f32,
/// and that rounding (single-token F16 matmuls widen the activations once per call).
float ck__dot_f16_f32_avx2(int64_t n, const void *w, const void *a);
void ck__dot4_f16_f32_avx2(int64_t n, const void *w, size_t w_stride, const void *a, float out[4]);
void ck__round_f16_row_avx2(const float *x, float *dst, int64_t n);

/// Vector math with llama.cpp's AVX2 rounding (ck_math_avx2.c).
void ck__silu_mul_avx2(float *gate, const float *up, int64_t n);
void ck__softmax_avx2(float *x, int64_t n);
int64_t ck__argmax_avx2(const float *x, int64_t n);
/// Activations for the packed kernels (ck_packed_matmul.c): Q8_0 (s NULL) or Q8_1 blocks of x as
/// quants, widened scales and sums; only called when ck__use_simd().
void ck__pack_activation_avx2(const float *x, int64_t nb, int8_t *qs, float *d, float *s);
void ck__rope_rotate_fma(float *a, float *b, float cos_t, float sin_t);

/// The dot used for weights of `type` (dispatched, honours ck_set_force_scalar).
ck_dot_fn ck__dot_for(int type);
/// The four-row kernel for `type`, or NULL where rows go one at a time (K-quants: ck__kdot4_for).
ck_dot4_fn ck__dot4_for(int type);
/// Four K-quant rows against one Q8_K activation row, row r's block b at w + r * row_stride +
/// b * block_stride, each output exactly the type's single-row dot (x86 SIMD only).
typedef void (*ck_kdot4_fn)(int64_t n, const void *w, size_t row_stride, size_t block_stride, const void *act_row, float out[4]);
/// ck_kdot4_fn for a K-quant `type`, or NULL (no SIMD: rows one at a time).
ck_kdot4_fn ck__kdot4_for(int type);
/// The four-row, two-token kernel for `type` (SIMD only), or NULL.
ck_tile4x2_fn ck__tile4x2_for(int type);

/// One 32-weight block as bytes for the panel GEMM: signed values (Q5_0: q - 16) or, for the
/// types with a min, the unsigned quants; its scale d and min m (0 without).
typedef void (*ck_block32_fn)(const void *block, int8_t q[32], float *d, float *m);
void ck__block32_q5_0(const void *block, int8_t q[32], float *d, float *m);
void ck__block32_q5_1(const void *block, int8_t q[32], float *d, float *m);
/// Batches of Q5_0 / Q5_1 / IQ4_NL / Q8_0 weights in GGUF layout (ck_block32_gemm.c): 0 when the type or machine has none.
int ck__matmul_block32(ck_pool *pool, int type, int n_parts, const void *const *W, const int64_t *rows, int64_t cols,
                       const uint8_t *act, size_t act_row_bytes, int64_t n_tok, float *const *Y);
int ck__use_simd(void);
/// The AVX-512 VNNI kernels: ck__use_simd(), the CPU has them, and no ck_set_avx2_only / PLUMISE_SIMD=avx2.
int ck__use_avx512_vnni(void);

/// Rows of X (n_tok x cols) converted for weights of `weight_type` (ck_prepare_activation), row t
/// at dst + t * dst_row_bytes, split across the pool.
void ck__prepare_activations(ck_pool *pool, int weight_type, const float *X, int64_t n_tok, int64_t cols, void *dst,
                             size_t dst_row_bytes);
/// Pool-owned scratch: `slot` 0 for matmul activations, 1.. for per-op use. Callers hold
/// the pool's op lock (ck__pool_lock_op) while they use it.
void *ck__pool_scratch(ck_pool *pool, int slot, size_t bytes);
void ck__pool_lock_op(ck_pool *pool);
/// ck_pool_run over chunks of exactly `chunk` items (for jobs of few, large items); a claim may
/// hand `fn` a run of several whole chunks (see run_chunks in ck_pool.c).
void ck__pool_run_chunked(ck_pool *pool, int64_t n, int64_t chunk, ck_range_fn fn, void *ctx);
/// Element-wise ops (ck_ops.c, ck_geglu.c) over the pool in chunks of whole 8-lane groups.
void ck__run_elements(ck_pool *pool, int64_t n, ck_range_fn fn, void *ctx);
void ck__pool_unlock_op(ck_pool *pool);

#if defined(__x86_64__)
#include <immintrin.h>

/// The instruction sets of the SIMD paths (chosen at run time, see ck__use_simd).
#define CK_AVX2 __attribute__((target("avx2,fma,f16c")))

/// Sum of the 8 lanes: halves added, then pairs, then the last two.
CK_AVX2 static inline float ck__hsum8(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

/// Eight 8-lane accumulators → their eight horizontal sums, each added exactly as ck__hsum8
/// adds one vector ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), but four sums per instruction.
CK_AVX2 static inline __m256 ck__hsum8x8(const __m256 a[8]) {
    // Lanes l and l+4: pairs (a0, a1), (a2, a3), ... side by side.
    __m256 x[4];
    for (int i = 0; i < 4; i++) {
        x[i] = _mm256_add_ps(_mm256_permute2f128_ps(a[2 * i], a[2 * i + 1], 0x20),
                             _mm256_permute2f128_ps(a[2 * i], a[2 * i + 1], 0x31));
    }
    // Then (0+2), (1+3) within each four.
    const __m256 y01 = _mm256_add_ps(_mm256_shuffle_ps(x[0], x[1], 0x44), _mm256_shuffle_ps(x[0], x[1], 0xee));
    const __m256 y23 = _mm256_add_ps(_mm256_shuffle_ps(x[2], x[3], 0x44), _mm256_shuffle_ps(x[2], x[3], 0xee));
    // Then the two halves: lanes hold a0 a2 a4 a6 | a1 a3 a5 a7.
    const __m256 z = _mm256_add_ps(_mm256_shuffle_ps(y01, y23, 0x88), _mm256_shuffle_ps(y01, y23, 0xdd));
    return _mm256_permutevar8x32_ps(z, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/// ck__hsum8x8 for four accumulators: their four horizontal sums in the same order.
CK_AVX2 static inline __m128 ck__hsum8x4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    const __m256 x01 = _mm256_add_ps(_mm256_permute2f128_ps(a0, a1, 0x20), _mm256_permute2f128_ps(a0, a1, 0x31));
    const __m256 x23 = _mm256_add_ps(_mm256_permute2f128_ps(a2, a3, 0x20), _mm256_permute2f128_ps(a2, a3, 0x31));
    const __m256 y = _mm256_add_ps(_mm256_shuffle_ps(x01, x23, 0x44), _mm256_shuffle_ps(x01, x23, 0xee));
    const __m256 z = _mm256_add_ps(_mm256_shuffle_ps(y, y, 0x88), _mm256_shuffle_ps(y, y, 0xdd)); // a0 a2 . . | a1 a3 . .
    return _mm_unpacklo_ps(_mm256_castps256_ps128(z), _mm256_extractf128_ps(z, 1));
}

/// Sum of u8 x s8 products of each group of four bytes, 8 int32 lanes as floats (ggml's
/// mul_sum_us8_pairs_float).
CK_AVX2 static inline __m256 ck__dot_u8_s8(__m256i u, __m256i s) {
    const __m256i pairs = _mm256_maddubs_epi16(u, s);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

/// Sum of s8 x s8 products: x's sign moved onto y so maddubs can treat x as unsigned.
CK_AVX2 static inline __m256 ck__dot_s8_s8(__m256i x, __m256i y) {
    return ck__dot_u8_s8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/// Byte k = 0xff where bit k of the 32 bits at `bits` is set (the fifth bits of Q5_0/Q5_1):
/// the four bytes spread over the 8-byte quarters, then one bit tested in each.
CK_AVX2 static inline __m256i ck__bit_mask_32(const uint8_t bits[4]) {
    uint32_t word;
    __builtin_memcpy(&word, bits, 4);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)word),
                                               _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                                 0x0101010101010101, 0x0000000000000000));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

/// A Q5 block's 32 unsigned 5-bit quants in element order (Q5_0 and Q5_1 share the layout: the
/// low 4 bits as nibbles, element j in byte j's low nibble and j + 16 in its high one, the fifth
/// in bit j of qh): nibbles with 0x10 or-ed in where the fifth bit is set.
CK_AVX2 static inline __m256i ck__q5_unsigned_bytes(const uint8_t qs[16], const uint8_t qh[4]) {
    const __m128i packed = _mm_loadu_si128((const __m128i *)qs);
    const __m256i nibbles = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(0x0f));
    return _mm256_or_si256(nibbles, _mm256_and_si256(ck__bit_mask_32(qh), _mm256_set1_epi8(0x10)));
}

/// The totals of four vectors of 8 int32 lanes, as lanes 0..3 (exact in any order).
CK_AVX2 static inline __m128i ck__hsum4_i32(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

/// out[c] = lane c of in[0] ... in[7] (an 8 x 8 transpose of floats or 32-bit lanes).
CK_AVX2 static inline void ck__transpose8(const __m256 in[8], __m256 out[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(in[0], in[1]), t1 = _mm256_unpackhi_ps(in[0], in[1]);
    const __m256 t2 = _mm256_unpacklo_ps(in[2], in[3]), t3 = _mm256_unpackhi_ps(in[2], in[3]);
    const __m256 t4 = _mm256_unpacklo_ps(in[4], in[5]), t5 = _mm256_unpackhi_ps(in[4], in[5]);
    const __m256 t6 = _mm256_unpacklo_ps(in[6], in[7]), t7 = _mm256_unpackhi_ps(in[6], in[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xee);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xee);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xee);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xee);
    out[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    out[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    out[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    out[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    out[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    out[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    out[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    out[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}
#endif

#endif
