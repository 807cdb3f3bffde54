// The K-quant batch kernels with four rows in vector lanes (AVX2): each super-block of a group's
// rows unpacked once per call and turned into exact integer granule sums for every token, folded
// into the FMA chains of the token's llama.cpp order lane by lane (ck_kquant_matmul.c picks the
// order; group_batch_ref there is the scalar reference).
#include "ck_kquant_internal.h"

#include <string.h>

#if defined(__x86_64__)

/// An unpacked block in registers' layout: |q| and q per 32 weights (for the u8 x s8 sign
/// trick), the scales as 16-bit lanes (0-7: run 2k, 8-15: run 2k + 1), the mins as 16 lanes.
typedef struct {
    __m256i absq[8], q[8], sc[8], m;
} kblock_simd;

CK_AVX2 static void to_simd(const ck_kblock *w, kblock_simd *v) {
    for (int k = 0; k < 8; k++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(w->q + 32 * k));
        v->q[k] = q;
        v->absq[k] = _mm256_sign_epi8(q, q);
        v->sc[k] = _mm256_set_m128i(_mm_set1_epi16(w->sc[2 * k + 1]), _mm_set1_epi16(w->sc[2 * k]));
    }
    v->m = _mm256_loadu_si256((const __m256i *)w->m);
}

/// The 4 rows' sums of one granule g: lane r = S_r[g] (the u8 x s8 products of the quants
/// with the activations, scaled per run of 16 by madd, added exactly whatever the grouping).
/// Types with a min have unsigned quants, which multiply the activations directly; the others
/// go through the sign trick (q8_K quants are within [-127, 127], so it is exact).
CK_AVX2 static inline __m128i granule_sums(const kblock_simd v[4], const ck_block_q8_K *a, int g, int unsigned_q) {
    const __m256i a0 = _mm256_loadu_si256((const __m256i *)(a->qs + 64 * g));
    const __m256i a1 = _mm256_loadu_si256((const __m256i *)(a->qs + 64 * g + 32));
    __m256i p[4];
    for (int r = 0; r < 4; r++) {
        const __m256i x0 = unsigned_q ? _mm256_maddubs_epi16(v[r].q[2 * g], a0)
                                      : _mm256_maddubs_epi16(v[r].absq[2 * g], _mm256_sign_epi8(a0, v[r].q[2 * g]));
        const __m256i x1 = unsigned_q ? _mm256_maddubs_epi16(v[r].q[2 * g + 1], a1)
                                      : _mm256_maddubs_epi16(v[r].absq[2 * g + 1], _mm256_sign_epi8(a1, v[r].q[2 * g + 1]));
        p[r] = _mm256_add_epi32(_mm256_madd_epi16(x0, v[r].sc[2 * g]), _mm256_madd_epi16(x1, v[r].sc[2 * g + 1]));
    }
    return ck__hsum4_i32(p[0], p[1], p[2], p[3]);
}

/// The 4 rows' min sums per granule: M[g] lane r = M_r[g] (runs 4g .. 4g + 3 of bsums * m).
CK_AVX2 static inline void granule_mins(const kblock_simd v[4], const ck_block_q8_K *a, __m128i M[4]) {
    const __m256i bsums = _mm256_loadu_si256((const __m256i *)a->bsums);
    // madd: lane j of row r = runs 2j and 2j + 1; hadd pairs them per 128-bit half.
    const __m256i x = _mm256_hadd_epi32(_mm256_madd_epi16(bsums, v[0].m), _mm256_madd_epi16(bsums, v[1].m));
    const __m256i y = _mm256_hadd_epi32(_mm256_madd_epi16(bsums, v[2].m), _mm256_madd_epi16(bsums, v[3].m));
    const __m128 xl = _mm_castsi128_ps(_mm256_castsi256_si128(x)), xh = _mm_castsi128_ps(_mm256_extracti128_si256(x, 1));
    const __m128 yl = _mm_castsi128_ps(_mm256_castsi256_si128(y)), yh = _mm_castsi128_ps(_mm256_extracti128_si256(y, 1));
    M[0] = _mm_castps_si128(_mm_shuffle_ps(xl, yl, _MM_SHUFFLE(2, 0, 2, 0)));
    M[1] = _mm_castps_si128(_mm_shuffle_ps(xl, yl, _MM_SHUFFLE(3, 1, 3, 1)));
    M[2] = _mm_castps_si128(_mm_shuffle_ps(xh, yh, _MM_SHUFFLE(2, 0, 2, 0)));
    M[3] = _mm_castps_si128(_mm_shuffle_ps(xh, yh, _MM_SHUFFLE(3, 1, 3, 1)));
}

/// combine() for 4 rows at once (lane r = row r): the same operations lane by lane.
CK_AVX2 static inline void combine4(int order, int min, __m128 d4, __m128 dmin4, float d8, const __m128i S[4],
                                    const __m128i M[4], float *acc, float *acc_min) {
    const __m128 b8 = _mm_set1_ps(d8);
    __m128 a = _mm_loadu_ps(acc), am = _mm_loadu_ps(acc_min);
    const __m128i s_all = _mm_add_epi32(_mm_add_epi32(_mm_add_epi32(S[0], S[1]), S[2]), S[3]);
    const __m128i m_all = _mm_add_epi32(_mm_add_epi32(_mm_add_epi32(M[0], M[1]), M[2]), M[3]);
    if (order == ORDER_TILED) {
        __m128 r = _mm_mul_ps(d4, _mm_cvtepi32_ps(s_all));
        if (min) r = _mm_fnmadd_ps(dmin4, _mm_cvtepi32_ps(m_all), r);
        _mm_storeu_ps(acc, _mm_fmadd_ps(r, b8, a));
        return;
    }
    const __m128 dd = _mm_mul_ps(d4, b8), dm = _mm_mul_ps(dmin4, b8);
    if (order == ORDER_CHAINS64) {
        for (int g = 0; g < 4; g++) {
            a = _mm_fmadd_ps(_mm_cvtepi32_ps(S[g]), dd, a);
            am = _mm_fmadd_ps(_mm_cvtepi32_ps(M[g]), dm, am);
        }
    } else if (order == ORDER_CHAINS128) {
        for (int g = 0; g < 4; g += 2) {
            a = _mm_fmadd_ps(_mm_cvtepi32_ps(_mm_add_epi32(S[g], S[g + 1])), dd, a);
            am = _mm_fmadd_ps(_mm_cvtepi32_ps(_mm_add_epi32(M[g], M[g + 1])), dm, am);
        }
    } else {
        a = _mm_fmadd_ps(_mm_cvtepi32_ps(s_all), dd, a);
        am = _mm_fmadd_ps(_mm_cvtepi32_ps(m_all), dm, am);
    }
    _mm_storeu_ps(acc, a);
    _mm_storeu_ps(acc_min, am);
}

/// The batch tokens of a group of nr (<= 4) rows, four rows in vector lanes: acc[4 * i + r].
CK_AVX2 void ck__kquant_group_batch_avx2(const kquant_job *job, int part, const uint8_t *w_rows, int nr,
                                     const int64_t *tokens, int64_t n, float *acc, float *acc_min) {
    const uint8_t *order = job->order[part];
    const int min = job->min;
    for (int64_t b = 0; b < job->nb; b++) {
        kblock_simd v[4];
        float d[4] = { 0 }, dmin[4] = { 0 };
        for (int r = 0; r < 4; r++) {
            if (r < nr) {
                ck_kblock blk;
                job->unpack(w_rows + (size_t)r * job->row_stride + (size_t)b * job->block_stride, &blk);
                to_simd(&blk, &v[r]);
                d[r] = blk.d;
                dmin[r] = blk.dmin;
            } else {
                memset(&v[r], 0, sizeof v[r]); // rows past the matrix: zero sums, outputs dropped
            }
        }
        const __m128 d4 = _mm_loadu_ps(d), dmin4 = _mm_loadu_ps(dmin);
        for (int64_t i = 0; i < n; i++) {
            const int64_t t = tokens[i];
            const ck_block_q8_K *a = (const ck_block_q8_K *)(job->act + (size_t)t * job->act_row_bytes) + b;
            __m128i S[4], M[4] = { _mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128() };
            for (int g = 0; g < 4; g++) S[g] = granule_sums(v, a, g, min);
            if (min) granule_mins(v, a, M);
            combine4(order[t], min, d4, dmin4, a->d, S, M, acc + 4 * i, acc_min + 4 * i);
        }
    }
}
#endif
