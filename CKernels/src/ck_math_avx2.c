// Vector math whose rounding matches llama.cpp's AVX2 CPU backend: a polynomial exp over
// 8 lanes, and the SwiGLU and softmax built on it. Matching these to the last bit is what lets
// greedy decoding reproduce llama.cpp token for token: a one-ulp difference can flip the 8-bit
// rounding of an activation, and such flips compound over 30 blocks.
#include "ck_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

/// e^x for 8 lanes: x = n·ln2 + b with n = round(x/ln2) (by the 1.5·2^23 shift trick),
/// ln2 split in two parts for an exact reduction, then a degree-5 polynomial in b scaled by
/// 2^n built directly in the exponent bits. Lanes with |n| > 126 take a slower scaling that
/// avoids overflowing 2^n, and |n| > 192 saturates to 0 or infinity.
CK_AVX2 __m256 ck__exp8(__m256 x) {
    const __m256 shift = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift); // x/ln2 + shift
    const __m256 n = _mm256_sub_ps(z, shift);
    const __m256 ln2_hi = _mm256_set1_ps(0x1.62e4p-1f), ln2_lo = _mm256_set1_ps(0x1.7f7d1cp-20f);
    const __m256 b = _mm256_fnmadd_ps(n, ln2_lo, _mm256_fnmadd_ps(n, ln2_hi, x));
    const __m256i exponent = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
    const __m256 scale = _mm256_castsi256_ps(_mm256_add_epi32(exponent, _mm256_castps_si256(_mm256_set1_ps(1))));
    const __m256 abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
    const __m256i large = _mm256_castps_si256(_mm256_cmp_ps(abs_n, _mm256_set1_ps(126), _CMP_GT_OQ));

    const __m256 b2 = _mm256_mul_ps(b, b);
    const __m256 high = _mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f));
    const __m256 low = _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f));
    const __m256 poly = _mm256_fmadd_ps(_mm256_fmadd_ps(high, b2, low), b2,
                                        _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b)); // e^b - 1

    if (!_mm256_movemask_ps(_mm256_castsi256_ps(large))) {
        return _mm256_fmadd_ps(poly, scale, scale);
    }
    // Split 2^n into two factors so neither overflows.
    const __m256i negative = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                              _mm256_set1_epi32((int)0x82000000u));
    const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(negative, _mm256_set1_epi32(0x7f000000)));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(exponent, negative));
    const __m256i saturate = _mm256_castps_si256(_mm256_cmp_ps(abs_n, _mm256_set1_ps(192), _CMP_GT_OQ));
    const __m256 scaled = _mm256_mul_ps(_mm256_fmadd_ps(s2, poly, s2), s1);
    const __m256 normal = _mm256_fmadd_ps(scale, poly, scale);
    const __m256 result = _mm256_or_ps(_mm256_and_ps(_mm256_castsi256_ps(large), scaled),
                                       _mm256_andnot_ps(_mm256_castsi256_ps(large), normal));
    return _mm256_or_ps(_mm256_and_ps(_mm256_castsi256_ps(saturate), _mm256_mul_ps(s1, s1)),
                        _mm256_andnot_ps(_mm256_castsi256_ps(saturate), result));
}

CK_AVX2 void ck__silu_mul_avx2(float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(gate + i);
        const __m256 silu = _mm256_div_ps(x, _mm256_add_ps(one, ck__exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) gate[i] = (gate[i] / (1.0f + expf(-gate[i]))) * up[i];
}

/// ck_argmax in two passes: the largest non-NaN value (max_ps(v, m) is v > m ? v : m, so a NaN
/// lane keeps m), then the first index holding it (== treats -0 and +0 alike, as > does).
CK_AVX2 int64_t ck__argmax_avx2(const float *x, int64_t n) {
    if (x[0] != x[0]) return 0;
    float m = x[0];
    int64_t i = 0;
    if (n >= 8) {
        __m256 acc = _mm256_set1_ps(x[0]);
        for (; i + 8 <= n; i += 8) acc = _mm256_max_ps(_mm256_loadu_ps(x + i), acc);
        float lanes[8];
        _mm256_storeu_ps(lanes, acc);
        for (int l = 0; l < 8; l++) m = lanes[l] > m ? lanes[l] : m;
    }
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    const __m256 target = _mm256_set1_ps(m);
    for (i = 0; i + 8 <= n; i += 8) {
        const int hits = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), target, _CMP_EQ_OQ));
        if (hits) return i + __builtin_ctz((unsigned)hits);
    }
    for (; i < n; i++)
        if (x[i] == m) return i;
    return 0;
}

CK_AVX2 void ck__softmax_avx2(float *x, int64_t n) {
    if (n <= 0) return;
    // max_ps(x, m) is x > m ? x : m, the scalar rule, eight lanes at a time (the maximum is
    // the same value in any order; only the sign of a zero maximum may differ, which no
    // x - max below can tell).
    __m256 m8 = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) m8 = _mm256_max_ps(_mm256_loadu_ps(x + i), m8);
    float lanes[8];
    _mm256_storeu_ps(lanes, m8);
    float max = -INFINITY;
    for (int l = 0; l < 8; l++) max = lanes[l] > max ? lanes[l] : max;
    for (; i < n; i++) max = x[i] > max ? x[i] : max;
    double sum = 0.0;
    i = 0;
    const __m256 vmax = _mm256_set1_ps(max);
    for (; i + 8 <= n; i += 8) {
        const __m256 e = ck__exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
        _mm256_storeu_ps(x + i, e);
        sum += (double)ck__hsum8(e);
    }
    for (; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += (double)x[i];
    }
    const __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++) x[i] *= (float)(1.0 / sum);
}

/// The rotation of one RoPE pair as llama.cpp's build computes it: GCC with -march=native
/// fuses the first product of each expression into an FMA.
CK_AVX2 void ck__rope_rotate_fma(float *a, float *b, float cos_t, float sin_t) {
    const float x0 = *a, x1 = *b;
    *a = fmaf(x0, cos_t, -(x1 * sin_t));
    *b = fmaf(x0, sin_t, x1 * cos_t);
}

#else
void ck__rope_rotate_fma(float *a, float *b, float cos_t, float sin_t) {
    const float x0 = *a, x1 = *b;
    *a = x0 * cos_t - x1 * sin_t;
    *b = x0 * sin_t + x1 * cos_t;
}
void ck__silu_mul_avx2(float *gate, const float *up, int64_t n) { (void)gate; (void)up; (void)n; }
void ck__softmax_avx2(float *x, int64_t n) { (void)x; (void)n; }
int64_t ck__argmax_avx2(const float *x, int64_t n) { (void)x; (void)n; return 0; }
#endif
