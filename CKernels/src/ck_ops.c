// Normalisation, activations and positional encodings, with ggml's arithmetic.
#include "ck_internal.h"

#include <math.h>

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

void ck_rope(float *x, int64_t n_heads, int64_t head_dim, int64_t rope_dims, int64_t pos, float freq_base, int style) {
    if (rope_dims <= 0 || rope_dims > head_dim) return;
    const float theta_scale = powf(freq_base, -2.0f / (float)rope_dims);
    const int64_t half = rope_dims / 2;
    // theta_i = pos * theta_scale^i, built by repeated multiplication as ggml does so the
    // rounding matches.
    float cos_t[half > 0 ? half : 1], sin_t[half > 0 ? half : 1];
    float theta = (float)pos;
    for (int64_t i = 0; i < half; i++) {
        cos_t[i] = cosf(theta);
        sin_t[i] = sinf(theta);
        theta *= theta_scale;
    }
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
