// Normalisation, activations and positional encodings, with ggml's arithmetic.
#include "ck_internal.h"

#include <math.h>
#include <stdlib.h>

void ck_rmsnorm(float *out, const float *x, const float *weight, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    if (weight) {
        for (int64_t i = 0; i < n; i++) out[i] = (x[i] * scale) * weight[i];
    } else {
        for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale;
    }
}

void ck_layernorm(float *out, const float *x, const float *weight, const float *bias, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)x[i];
    const float mean = (float)(sum / (double)n);
    double sum2 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float centred = x[i] - mean;
        out[i] = centred;
        sum2 += (double)(centred * centred);
    }
    const float scale = 1.0f / sqrtf((float)(sum2 / (double)n) + eps);
    for (int64_t i = 0; i < n; i++) {
        float v = out[i] * scale;
        if (weight) v *= weight[i];
        if (bias) v += bias[i];
        out[i] = v;
    }
}

int64_t ck_argmax(const float *x, int64_t n) {
    if (n <= 0) return 0;
    if (ck__use_simd()) return ck__argmax_avx2(x, n);
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++) best = x[i] > x[best] ? i : best;
    return best;
}

void ck_softmax(float *x, int64_t n) {
    if (ck__use_simd()) {
        ck__softmax_avx2(x, n);
        return;
    }
    if (n <= 0) return;
    float max = x[0];
    for (int64_t i = 1; i < n; i++) max = x[i] > max ? x[i] : max;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += (double)x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

void ck_silu_mul(float *gate, const float *up, int64_t n) {
    if (ck__use_simd()) {
        ck__silu_mul_avx2(gate, up, n);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i];
        gate[i] = (g / (1.0f + expf(-g))) * up[i];
    }
}

void ck_gelu(float *x, int64_t n) {
    const float sqrt_2_over_pi = 0.79788456080286535587989211986876f;
    const float coef = 0.044715f;
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(sqrt_2_over_pi * v * (1.0f + coef * v * v)));
    }
}

void ck_gelu_erf(float *x, int64_t n) {
    const float inv_sqrt2 = 0.70710678118654752440f;
    for (int64_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * inv_sqrt2));
}

void ck_add(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

/// theta_i = pos * theta_scale^i, built by repeated multiplication as ggml does so the
/// rounding matches; cos and sin of each into cos_t, sin_t (rope_dims / 2 values).
static void rope_angles(int64_t rope_dims, int64_t pos, float freq_base, float *cos_t, float *sin_t) {
    const float theta_scale = powf(freq_base, -2.0f / (float)rope_dims);
    float theta = (float)pos;
    for (int64_t i = 0; i < rope_dims / 2; i++) {
        cos_t[i] = cosf(theta);
        sin_t[i] = sinf(theta);
        theta *= theta_scale;
    }
}

static void rope_apply(float *x, int64_t n_heads, int64_t head_dim, int64_t rope_dims, int style, const float *cos_t,
                       const float *sin_t) {
    const int64_t half = rope_dims / 2;
    const int fused = ck__use_simd();
    for (int64_t h = 0; h < n_heads; h++) {
        float *v = x + h * head_dim;
        for (int64_t i = 0; i < half; i++) {
            float *a, *b;
            if (style == CK_ROPE_NEOX) { a = v + i; b = v + i + half; }
            else { a = v + 2 * i; b = v + 2 * i + 1; }
            if (fused) {
                ck__rope_rotate_fma(a, b, cos_t[i], sin_t[i]);
            } else {
                const float x0 = *a, x1 = *b;
                *a = x0 * cos_t[i] - x1 * sin_t[i];
                *b = x0 * sin_t[i] + x1 * cos_t[i];
            }
        }
    }
}

void ck_rope(float *x, int64_t n_heads, int64_t head_dim, int64_t rope_dims, int64_t pos, float freq_base, int style) {
    if (rope_dims <= 0 || rope_dims > head_dim) return;
    const int64_t half = rope_dims / 2;
    float cos_t[half > 0 ? half : 1], sin_t[half > 0 ? half : 1];
    rope_angles(rope_dims, pos, freq_base, cos_t, sin_t);
    rope_apply(x, n_heads, head_dim, rope_dims, style, cos_t, sin_t);
}

// MARK: - Batches across the pool

typedef struct {
    float *out, *y;
    const float *x, *weight;
    int64_t n, n_heads, n_kv_heads, head_dim, rope_dims, pos0;
    const int64_t *positions; // RoPE: row t's position (NULL: pos0 + t)
    float eps, freq_base;
    int style;
} rows_job;

static void rmsnorm_rows(void *raw, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    const rows_job *job = raw;
    for (int64_t r = begin; r < end; r++) ck_rmsnorm(job->out + r * job->n, job->x + r * job->n, job->weight, job->n, job->eps);
}

void ck_rmsnorm_rows(ck_pool *pool, float *out, const float *x, const float *weight, int64_t n_rows, int64_t n, float eps) {
    rows_job job = { .out = out, .x = x, .weight = weight, .n = n, .eps = eps };
    ck_pool_run(pool, n_rows, 4, rmsnorm_rows, &job);
}

static void silu_mul_range(void *raw, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    const rows_job *job = raw;
    ck_silu_mul(job->out + begin, job->x + begin, end - begin);
}

static void add_range(void *raw, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    const rows_job *job = raw;
    ck_add(job->out + begin, job->x + begin, end - begin);
}

/// Element-wise ops in chunks of whole 8-lane groups (at least 4096 values, about eight per
/// thread), so every element takes the vector or scalar path it takes in one call.
void ck__run_elements(ck_pool *pool, int64_t n, ck_range_fn fn, void *ctx) {
    int64_t chunk = (n + 8 * ck_pool_threads(pool) - 1) / (8 * ck_pool_threads(pool));
    if (chunk < 4096) chunk = 4096;
    ck__pool_run_chunked(pool, n, (chunk + 7) & ~(int64_t)7, fn, ctx);
}

void ck_silu_mul_pool(ck_pool *pool, float *gate, const float *up, int64_t n) {
    rows_job job = { .out = gate, .x = up };
    ck__run_elements(pool, n, silu_mul_range, &job);
}

void ck_add_pool(ck_pool *pool, float *y, const float *x, int64_t n) {
    rows_job job = { .out = y, .x = x };
    ck__run_elements(pool, n, add_range, &job);
}

static void rope_rows(void *raw, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    const rows_job *job = raw;
    const int64_t half = job->rope_dims / 2;
    float cos_t[half > 0 ? half : 1], sin_t[half > 0 ? half : 1];
    for (int64_t t = begin; t < end; t++) {
        rope_angles(job->rope_dims, job->positions ? job->positions[t] : job->pos0 + t, job->freq_base, cos_t, sin_t);
        rope_apply(job->out + t * job->n_heads * job->head_dim, job->n_heads, job->head_dim, job->rope_dims, job->style, cos_t, sin_t);
        rope_apply(job->y + t * job->n_kv_heads * job->head_dim, job->n_kv_heads, job->head_dim, job->rope_dims, job->style, cos_t, sin_t);
    }
}

void ck_rope_rows(ck_pool *pool, float *q, float *k, int64_t n_tok, int64_t pos0, int64_t n_heads, int64_t n_kv_heads,
                  int64_t head_dim, int64_t rope_dims, float freq_base, int style) {
    if (rope_dims <= 0 || rope_dims > head_dim) return;
    rows_job job = { .out = q, .y = k, .n_heads = n_heads, .n_kv_heads = n_kv_heads, .head_dim = head_dim,
                     .rope_dims = rope_dims, .pos0 = pos0, .freq_base = freq_base, .style = style };
    ck_pool_run(pool, n_tok, 4, rope_rows, &job);
}

void ck_rope_rows_at(ck_pool *pool, float *q, float *k, int64_t n_tok, const int64_t *positions, int64_t n_heads,
                     int64_t n_kv_heads, int64_t head_dim, int64_t rope_dims, float freq_base, int style) {
    if (rope_dims <= 0 || rope_dims > head_dim || !positions) return;
    rows_job job = { .out = q, .y = k, .n_heads = n_heads, .n_kv_heads = n_kv_heads, .head_dim = head_dim,
                     .rope_dims = rope_dims, .positions = positions, .freq_base = freq_base, .style = style };
    ck_pool_run(pool, n_tok, 4, rope_rows, &job);
}

void ck_alibi_slopes(int64_t n_heads, float *slopes) {
    // BLOOM's slopes: geometric in 2^(-8/n) for the largest power of two n <= n_heads, the
    // rest interleaved from the sequence for 2n.
    int64_t pow2 = 1;
    while (pow2 * 2 <= n_heads) pow2 *= 2;
    const float m0 = powf(2.0f, -8.0f / (float)pow2);
    const float m1 = powf(2.0f, -4.0f / (float)pow2);
    for (int64_t h = 0; h < n_heads; h++) {
        slopes[h] = h < pow2 ? powf(m0, (float)(h + 1)) : powf(m1, (float)(2 * (h - pow2) + 1));
    }
}

// MARK: - Streaming read

#if defined(__x86_64__)
/// Four independent 8-lane add chains, so the loads, not the adds' latency, set the pace.
CK_AVX2 static float sum_f32_avx2(const float *x, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(x + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(x + i + 24));
    }
    float sum = ck__hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) sum += x[i];
    return sum;
}
#endif

static float sum_f32(const float *x, int64_t n) {
#if defined(__x86_64__)
    if (ck__use_simd()) return sum_f32_avx2(x, n);
#endif
    float sum = 0;
    for (int64_t i = 0; i < n; i++) sum += x[i];
    return sum;
}

typedef struct {
    const float *x;
    double *partial; // one 64-byte line per thread, so the threads never share one
} sum_job;

static void sum_ranges(void *raw, int64_t begin, int64_t end, int thread_index) {
    const sum_job *job = raw;
    job->partial[(size_t)thread_index * 8] += sum_f32(job->x + begin, end - begin);
}

double ck_sum_pool(ck_pool *pool, const float *x, int64_t n) {
    const int threads = ck_pool_threads(pool);
    sum_job job = { x, calloc((size_t)threads * 8, sizeof(double)) };
    if (!job.partial) return sum_f32(x, n);
    ck_pool_run(pool, n, 1 << 16, sum_ranges, &job);
    double sum = 0;
    for (int t = 0; t < threads; t++) sum += job.partial[(size_t)t * 8];
    free(job.partial);
    return sum;
}
