// Gated GELU as ggml's CPU backend computes it (GGML_GELU_FP16): gelu(x) of the tanh form is
// looked up in a table of all 65536 f16 values, x rounded to f16 first; x >= 10 gives x and
// x <= -10 gives 0. The AVX2 path rounds with F16C (the same round-to-nearest-even as the scalar
// conversion) and gathers from the table, so both give the same bits.
#include "ck_internal.h"

#include <math.h>

// One entry more than the f16 values: the AVX2 gather reads 32 bits at each 16-bit entry.
static uint16_t gelu_table[(1 << 16) + 1];
static pthread_once_t gelu_table_once = PTHREAD_ONCE_INIT;

static void build_gelu_table(void) {
    const float sqrt_2_over_pi = 0.79788456080286535587989211986876f;
    const float coef = 0.044715f;
    for (int i = 0; i < (1 << 16); i++) {
        const uint16_t h = (uint16_t)i;
        float x, y;
        ck__fp16_to_fp32_row_ref(&h, &x, 1);
        y = 0.5f * x * (1.0f + tanhf(sqrt_2_over_pi * x * (1.0f + coef * x * x)));
        ck__fp32_to_fp16_row_ref(&y, &gelu_table[i], 1);
    }
}

static void geglu_ref(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float x = gate[i];
        if (x <= -10.0f) {
            gate[i] = 0.0f;
        } else if (x >= 10.0f) {
            gate[i] = x * up[i];
        } else {
            uint16_t h;
            float g;
            ck__fp32_to_fp16_row_ref(&x, &h, 1);
            ck__fp16_to_fp32_row_ref(&gelu_table[h], &g, 1);
            gate[i] = g * up[i];
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

CK_AVX2 static void geglu_avx2(float *gate, const float *up, int64_t n) {
    const __m256 lo = _mm256_set1_ps(-10.0f), hi = _mm256_set1_ps(10.0f);
    const __m256i low16 = _mm256_set1_epi32(0xffff);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(gate + i);
        const __m256i h = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        const __m256i entry = _mm256_and_si256(_mm256_i32gather_epi32((const int *)gelu_table, h, 2), low16);
        // The 8 entries as 16-bit lanes (packus keeps values below 65536), in order.
        const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(entry, entry), 0x08);
        __m256 g = _mm256_cvtph_ps(_mm256_castsi256_si128(packed));
        g = _mm256_blendv_ps(g, x, _mm256_cmp_ps(x, hi, _CMP_GE_OQ));
        __m256 y = _mm256_mul_ps(g, _mm256_loadu_ps(up + i));
        y = _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LE_OQ), y); // x <= -10: exactly 0
        _mm256_storeu_ps(gate + i, y);
    }
    geglu_ref(gate + i, up + i, n - i);
}
#endif

void ck_geglu_f16_table(float *gate, const float *up, int64_t n) {
    pthread_once(&gelu_table_once, build_gelu_table);
#if defined(__x86_64__)
    if (ck__use_simd()) {
        geglu_avx2(gate, up, n);
        return;
    }
#endif
    geglu_ref(gate, up, n);
}

typedef struct {
    float *gate;
    const float *up;
} geglu_job;

static void geglu_range(void *raw, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    const geglu_job *job = raw;
    ck_geglu_f16_table(job->gate + begin, job->up + begin, end - begin);
}

void ck_geglu_f16_table_pool(ck_pool *pool, float *gate, const float *up, int64_t n) {
    pthread_once(&gelu_table_once, build_gelu_table);
    geglu_job job = { gate, up };
    ck__run_elements(pool, n, geglu_range, &job);
}
