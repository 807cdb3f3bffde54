// AVX2/FMA/F16C kernels. Each function carries its own target attribute so the rest of the
// library is built for the baseline CPU; ck_dispatch.c calls these only when the CPU has them.
#include "ck_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

/// Exact half → float with the F16C instruction (the portable ck_fp16_to_fp32 is a function
/// call with branches, and these kernels convert two or three scales per 32 weights).
CK_AVX2 static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

/// Float → half, round to nearest even (the same result as ck_fp32_to_fp16).
CK_AVX2 static inline uint16_t f2h(float f) { return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }

CK_AVX2 static inline int hsum_i32_8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/// 16 bytes of nibbles → 32 bytes: low nibbles in lanes 0..15, high nibbles in lanes 16..31
/// (the element order of a Q4 block).
CK_AVX2 static inline __m256i unpack_nibbles(const uint8_t *qs) {
    const __m128i packed = _mm_loadu_si128((const __m128i *)qs);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

/// Q4_0 in llama.cpp's order for these matrices: it repacks Q4_0 weights (row counts that are
/// multiples of 8) into 8-row groups (ggml_gemv/gemm_q4_0_8x8_q8_0), where each output is one
/// FMA chain of (exact integer block dot) x (d_x * d_y) over the blocks.
CK_AVX2 static inline __m256i q4_0_lanes(const ck_block_q4_0 *x, __m256i qy) {
    const __m256i qx = _mm256_sub_epi8(unpack_nibbles(x->qs), _mm256_set1_epi8(8));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(qx, qx), _mm256_sign_epi8(qy, qx)), _mm256_set1_epi16(1));
}

CK_AVX2 float ck__dot_q4_0_q8_0_avx2(int64_t n, const void *w, const void *a) {
    const ck_block_q4_0 *x = w;
    const ck_block_q8_0 *y = a;
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < n / CK_QK; b++) {
        const int sum = hsum_i32_8(q4_0_lanes(&x[b], _mm256_loadu_si256((const __m256i *)y[b].qs)));
        acc = _mm_fmadd_ss(_mm_set_ss((float)sum), _mm_set_ss(h2f(x[b].d) * h2f(y[b].d)), acc);
    }
    return _mm_cvtss_f32(acc);
}

CK_AVX2 float ck__dot_q4_1_q8_1_avx2(int64_t n, const void *w, const void *a) {
    const ck_block_q4_1 *x = w;
    const ck_block_q8_1 *y = a;
    __m256 acc = _mm256_setzero_ps();
    float mins = 0.0f;
    for (int64_t b = 0; b < n / CK_QK; b++) {
        mins += h2f(x[b].m) * h2f(y[b].s);
        const __m256 d = _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d));
        const __m256i qx = unpack_nibbles(x[b].qs);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        acc = _mm256_fmadd_ps(d, ck__dot_u8_s8(qx, qy), acc);
    }
    return ck__hsum8(acc) + mins;
}

CK_AVX2 float ck__dot_q8_0_q8_0_avx2(int64_t n, const void *w, const void *a) {
    const ck_block_q8_0 *x = w;
    const ck_block_q8_0 *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / CK_QK; b++) {
        const __m256 d = _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d));
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[b].qs);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        acc = _mm256_fmadd_ps(d, ck__dot_s8_s8(qx, qy), acc);
    }
    return ck__hsum8(acc);
}

/// Four weight rows (w_stride bytes apart) against one activation row: the activation block
/// is loaded once for all four and the four accumulation chains overlap. Each row is summed in
/// exactly the single-row kernel's order, so results are bit-identical to it.
CK_AVX2 void ck__dot4_q4_1_q8_1_avx2(int64_t n, const void *w, size_t w_stride, const void *a, float out[4]) {
    const ck_block_q8_1 *y = a;
    const ck_block_q4_1 *x[4];
    for (int r = 0; r < 4; r++) x[r] = (const ck_block_q4_1 *)((const uint8_t *)w + r * w_stride);
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    float mins[4] = { 0, 0, 0, 0 };
    for (int64_t b = 0; b < n / CK_QK; b++) {
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        const float yd = h2f(y[b].d), ys = h2f(y[b].s);
        for (int r = 0; r < 4; r++) {
            mins[r] += h2f(x[r][b].m) * ys;
            const __m256 d = _mm256_set1_ps(h2f(x[r][b].d) * yd);
            acc[r] = _mm256_fmadd_ps(d, ck__dot_u8_s8(unpack_nibbles(x[r][b].qs), qy), acc[r]);
        }
    }
    for (int r = 0; r < 4; r++) out[r] = ck__hsum8(acc[r]) + mins[r];
}

CK_AVX2 void ck__dot4_q4_0_q8_0_avx2(int64_t n, const void *w, size_t w_stride, const void *a, float out[4]) {
    const ck_block_q8_0 *y = a;
    const ck_block_q4_0 *x[4];
    for (int r = 0; r < 4; r++) x[r] = (const ck_block_q4_0 *)((const uint8_t *)w + r * w_stride);
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < n / CK_QK; b++) {
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        const __m128i sums = ck__hsum4_i32(q4_0_lanes(&x[0][b], qy), q4_0_lanes(&x[1][b], qy), q4_0_lanes(&x[2][b], qy),
                                           q4_0_lanes(&x[3][b], qy));
        const uint16_t d[4] = { x[0][b].d, x[1][b].d, x[2][b].d, x[3][b].d };
        const __m128 dx = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)d));
        acc = _mm_fmadd_ps(_mm_cvtepi32_ps(sums), _mm_mul_ps(dx, _mm_set1_ps(h2f(y[b].d))), acc);
    }
    _mm_storeu_ps(out, acc);
}

CK_AVX2 void ck__dot4_q8_0_q8_0_avx2(int64_t n, const void *w, size_t w_stride, const void *a, float out[4]) {
    const ck_block_q8_0 *y = a;
    const ck_block_q8_0 *x[4];
    for (int r = 0; r < 4; r++) x[r] = (const ck_block_q8_0 *)((const uint8_t *)w + r * w_stride);
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    for (int64_t b = 0; b < n / CK_QK; b++) {
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        const float yd = h2f(y[b].d);
        for (int r = 0; r < 4; r++) {
            const __m256 d = _mm256_set1_ps(h2f(x[r][b].d) * yd);
            acc[r] = _mm256_fmadd_ps(d, ck__dot_s8_s8(_mm256_loadu_si256((const __m256i *)x[r][b].qs), qy), acc[r]);
        }
    }
    for (int r = 0; r < 4; r++) out[r] = ck__hsum8(acc[r]);
}

/// ggml_vec_dot_f16's order: four accumulators over 32-element steps, reduced pairwise
/// ((a0+a2)+(a1+a3)), then across lanes; leftovers added in double.
CK_AVX2 float ck__dot_f16_f16_avx2(int64_t n, const void *w, const void *a) {
    const uint16_t *x = w, *y = a;
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    const int64_t whole = n & ~(int64_t)31;
    for (int64_t i = 0; i < whole; i += 32) {
        for (int k = 0; k < 4; k++) {
            const __m256 vx = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8 * k)));
            const __m256 vy = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i + 8 * k)));
            acc[k] = _mm256_fmadd_ps(vx, vy, acc[k]);
        }
    }
    const __m256 total = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
    const __m128 quad = _mm_add_ps(_mm256_castps256_ps128(total), _mm256_extractf128_ps(total, 1));
    const __m128 pairs = _mm_hadd_ps(quad, quad);
    double sum = (double)_mm_cvtss_f32(_mm_hadd_ps(pairs, pairs));
    for (int64_t i = whole; i < n; i++) sum += (double)(ck_fp16_to_fp32(x[i]) * ck_fp16_to_fp32(y[i]));
    return (float)sum;
}

/// ck__dot_f16_f16_avx2 with the activations already widened (exactly) to f32: the same
/// products and sums, without converting the activations again for every row.
CK_AVX2 static inline float dot_f16_f32(int64_t n, const void *w, const void *a) {
    const uint16_t *x = w;
    const float *y = a;
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    const int64_t whole = n & ~(int64_t)31;
    for (int64_t i = 0; i < whole; i += 32) {
        for (int k = 0; k < 4; k++) {
            const __m256 vx = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8 * k)));
            acc[k] = _mm256_fmadd_ps(vx, _mm256_loadu_ps(y + i + 8 * k), acc[k]);
        }
    }
    const __m256 total = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
    const __m128 quad = _mm_add_ps(_mm256_castps256_ps128(total), _mm256_extractf128_ps(total, 1));
    const __m128 pairs = _mm_hadd_ps(quad, quad);
    double sum = (double)_mm_cvtss_f32(_mm_hadd_ps(pairs, pairs));
    for (int64_t i = whole; i < n; i++) sum += (double)(ck_fp16_to_fp32(x[i]) * y[i]);
    return (float)sum;
}

CK_AVX2 float ck__dot_f16_f32_avx2(int64_t n, const void *w, const void *a) { return dot_f16_f32(n, w, a); }

/// Four rows (w_stride bytes apart), each exactly ck__dot_f16_f32_avx2.
CK_AVX2 void ck__dot4_f16_f32_avx2(int64_t n, const void *w, size_t w_stride, const void *a, float out[4]) {
    for (int r = 0; r < 4; r++) out[r] = dot_f16_f32(n, (const uint8_t *)w + r * w_stride, a);
}

/// x rounded to f16 (as ck_fp32_to_fp16_row rounds) and widened back: dst[i] = f32(f16(x[i])).
CK_AVX2 void ck__round_f16_row_avx2(const float *x, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    }
    for (; i < n; i++) dst[i] = ck_fp16_to_fp32(ck_fp32_to_fp16(x[i]));
}

CK_AVX2 float ck__dot_f32_f32_avx2(int64_t n, const void *w, const void *a) {
    const float *x = w, *y = a;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), acc1);
    }
    float sum = ck__hsum8(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++) sum += x[i] * y[i];
    return sum;
}

/// One block of 32 floats → int8 with scale 127/amax, round half to even. Returns d.
CK_AVX2 static inline float quantize_block_q8(const float *x, int8_t *qs, int *sum) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    const __m256 sign_mask = _mm256_set1_ps(-0.0f);
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_mask, v[k]));
    }
    __m128 m = _mm_max_ps(_mm256_extractf128_ps(amax, 1), _mm256_castps256_ps128(amax));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float max_scalar = _mm_cvtss_f32(m);
    const float d = max_scalar / 127.0f;
    const __m256 id = _mm256_set1_ps(max_scalar != 0.0f ? 127.0f / max_scalar : 0.0f);
    __m256i q[4];
    for (int k = 0; k < 4; k++) {
        q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    *sum = hsum_i32_8(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
    // Pack 4x8 int32 → 32 int8 in element order (packs interleave 128-bit lanes; undo with a permute).
    __m256i p01 = _mm256_packs_epi32(q[0], q[1]);
    __m256i p23 = _mm256_packs_epi32(q[2], q[3]);
    __m256i p = _mm256_packs_epi16(p01, p23);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)qs, p);
    return d;
}

CK_AVX2 void ck__quantize_row_q8_0_avx2(const float *x, ck_block_q8_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / CK_QK; b++) {
        int sum;
        y[b].d = f2h(quantize_block_q8(x + b * CK_QK, y[b].qs, &sum));
    }
}

CK_AVX2 void ck__quantize_row_q8_1_avx2(const float *x, ck_block_q8_1 *y, int64_t n) {
    for (int64_t b = 0; b < n / CK_QK; b++) {
        int sum;
        const float d = quantize_block_q8(x + b * CK_QK, y[b].qs, &sum);
        y[b].d = f2h(d);
        y[b].s = f2h(d * (float)sum);
    }
}

/// nb blocks of x quantized as ck__quantize_row_q8_0/_q8_1_avx2 quantize them, laid out for the
/// packed kernels: quants in qs, the f16 scales widened to f32 in d (and, for Q8_1, the sums in s).
CK_AVX2 void ck__pack_activation_avx2(const float *x, int64_t nb, int8_t *qs, float *d, float *s) {
    for (int64_t b = 0; b < nb; b++) {
        int sum;
        const float scale = quantize_block_q8(x + b * CK_QK, qs + b * CK_QK, &sum);
        d[b] = h2f(f2h(scale));
        if (s) s[b] = h2f(f2h(scale * (float)sum));
    }
}

CK_AVX2 void ck__fp16_to_fp32_row_avx2(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++) dst[i] = h2f(src[i]);
}

CK_AVX2 void ck__fp32_to_fp16_row_avx2(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++) dst[i] = f2h(src[i]);
}

#else
// Non-x86 builds: the dispatcher never selects these; keep the symbols for the linker.
float ck__dot_q4_0_q8_0_avx2(int64_t n, const void *w, const void *a) { return ck__dot_q4_0_q8_0_ref(n, w, a); }
float ck__dot_q4_1_q8_1_avx2(int64_t n, const void *w, const void *a) { return ck__dot_q4_1_q8_1_ref(n, w, a); }
float ck__dot_q8_0_q8_0_avx2(int64_t n, const void *w, const void *a) { return ck__dot_q8_0_q8_0_ref(n, w, a); }
float ck__dot_f16_f16_avx2(int64_t n, const void *w, const void *a) { return ck__dot_f16_f16_ref(n, w, a); }
float ck__dot_f32_f32_avx2(int64_t n, const void *w, const void *a) { return ck__dot_f32_f32_ref(n, w, a); }
void ck__quantize_row_q8_0_avx2(const float *x, ck_block_q8_0 *y, int64_t n) { ck__quantize_row_q8_0_ref(x, y, n); }
void ck__quantize_row_q8_1_avx2(const float *x, ck_block_q8_1 *y, int64_t n) { ck__quantize_row_q8_1_ref(x, y, n); }
void ck__fp16_to_fp32_row_avx2(const uint16_t *src, float *dst, int64_t n) { ck__fp16_to_fp32_row_ref(src, dst, n); }
void ck__pack_activation_avx2(const float *x, int64_t nb, int8_t *qs, float *d, float *s) {
    (void)x; (void)nb; (void)qs; (void)d; (void)s;
}
static void dot4_via_single(ck_dot_fn dot, int64_t n, const void *w, size_t w_stride, const void *a, float out[4]) {
    for (int r = 0; r < 4; r++) out[r] = dot(n, (const uint8_t *)w + r * w_stride, a);
}
void ck__dot4_q4_1_q8_1_avx2(int64_t n, const void *w, size_t s, const void *a, float out[4]) { dot4_via_single(ck__dot_q4_1_q8_1_ref, n, w, s, a, out); }
void ck__dot4_q4_0_q8_0_avx2(int64_t n, const void *w, size_t s, const void *a, float out[4]) { dot4_via_single(ck__dot_q4_0_q8_0_ref, n, w, s, a, out); }
void ck__dot4_q8_0_q8_0_avx2(int64_t n, const void *w, size_t s, const void *a, float out[4]) { dot4_via_single(ck__dot_q8_0_q8_0_ref, n, w, s, a, out); }
void ck__fp32_to_fp16_row_avx2(const float *src, uint16_t *dst, int64_t n) { ck__fp32_to_fp16_row_ref(src, dst, n); }
// Never called without AVX2 (ck__use_simd() is 0): present for the linker only.
float ck__dot_f16_f32_avx2(int64_t n, const void *w, const void *a) { (void)n; (void)w; (void)a; return 0.0f; }
void ck__round_f16_row_avx2(const float *x, float *dst, int64_t n) { (void)x; (void)dst; (void)n; }
void ck__dot4_f16_f32_avx2(int64_t n, const void *w, size_t w_stride, const void *a, float out[4]) {
    (void)n; (void)w; (void)w_stride; (void)a; (void)out;
}
#endif
