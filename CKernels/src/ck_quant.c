// Block quantization (ggml-compatible layouts), dequantization and the scalar reference dots.
#include "ck_internal.h"

#include <math.h>
#include <string.h>

size_t ck_row_size(int type, int64_t n) {
    switch (type) {
    case CK_F32: return (size_t)n * 4;
    case CK_F16: case CK_BF16: return (size_t)n * 2;
    case CK_Q4_0: return (size_t)(n / CK_QK) * sizeof(ck_block_q4_0);
    case CK_Q4_1: return (size_t)(n / CK_QK) * sizeof(ck_block_q4_1);
    case CK_Q8_0: return (size_t)(n / CK_QK) * sizeof(ck_block_q8_0);
    case CK_Q8_1: return (size_t)(n / CK_QK) * sizeof(ck_block_q8_1);
    case CK_Q5_0: return (size_t)(n / CK_QK) * sizeof(ck_block_q5_0);
    case CK_Q2_K: return (size_t)(n / CK_QK_K) * sizeof(ck_block_q2_K);
    case CK_Q3_K: return (size_t)(n / CK_QK_K) * sizeof(ck_block_q3_K);
    case CK_Q4_K: return (size_t)(n / CK_QK_K) * sizeof(ck_block_q4_K);
    case CK_Q5_1: return (size_t)(n / CK_QK) * sizeof(ck_block_q5_1);
    case CK_Q5_K: return (size_t)(n / CK_QK_K) * sizeof(ck_block_q5_K);
    case CK_IQ4_XS: return (size_t)(n / CK_QK_K) * sizeof(ck_block_iq4_xs);
    case CK_IQ4_NL: return (size_t)(n / CK_QK) * sizeof(ck_block_iq4_nl);
    case CK_Q6_K: return (size_t)(n / CK_QK_K) * sizeof(ck_block_q6_K);
    case CK_Q8_K: return (size_t)(n / CK_QK_K) * sizeof(ck_block_q8_K);
    default: return 0;
    }
}

int ck_type_supported(int type) {
    switch (type) {
    case CK_F32: case CK_F16: case CK_BF16: case CK_Q4_0: case CK_Q4_1: case CK_Q8_0:
    case CK_Q5_0: case CK_Q5_1: case CK_Q2_K: case CK_Q3_K: case CK_Q4_K: case CK_Q5_K: case CK_Q6_K: case CK_IQ4_XS:
    case CK_IQ4_NL: return 1;
    default: return 0;
    }
}

int64_t ck_type_block_elements(int type) {
    switch (type) {
    case CK_F32: case CK_F16: case CK_BF16: return 1;
    case CK_Q4_0: case CK_Q4_1: case CK_Q5_0: case CK_Q5_1: case CK_Q8_0: case CK_Q8_1: case CK_IQ4_NL: return CK_QK;
    case CK_Q2_K: case CK_Q3_K: case CK_Q4_K: case CK_Q5_K: case CK_Q6_K: case CK_Q8_K: case CK_IQ4_XS: return CK_QK_K;
    default: return 0;
    }
}

const char *ck_type_name(int type) {
    switch (type) {
    case CK_F32: return "F32";
    case CK_F16: return "F16";
    case CK_BF16: return "BF16";
    case CK_Q4_0: return "Q4_0";
    case CK_Q4_1: return "Q4_1";
    case CK_Q8_0: return "Q8_0";
    case CK_Q8_1: return "Q8_1";
    case CK_Q5_0: return "Q5_0";
    case CK_Q2_K: return "Q2_K";
    case CK_Q3_K: return "Q3_K";
    case CK_Q4_K: return "Q4_K";
    case CK_Q5_1: return "Q5_1";
    case CK_Q5_K: return "Q5_K";
    case CK_Q6_K: return "Q6_K";
    case CK_IQ4_XS: return "IQ4_XS";
    case CK_IQ4_NL: return "IQ4_NL";
    case CK_Q8_K: return "Q8_K";
    default: return "unknown";
    }
}

// MARK: - Quantizers

void ck_quantize_row_q4_0(const float *x, ck_block_q4_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / CK_QK; b++, x += CK_QK) {
        // The value of largest magnitude maps to -8, so the scale keeps its sign.
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < CK_QK; j++) {
            if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = ck_fp32_to_fp16(d);
        for (int j = 0; j < CK_QK / 2; j++) {
            int lo = (int)(x[j] * id + 8.5f), hi = (int)(x[j + CK_QK / 2] * id + 8.5f);
            lo = lo > 15 ? 15 : lo;
            hi = hi > 15 ? 15 : hi;
            y[b].qs[j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

void ck_quantize_row_q4_1(const float *x, ck_block_q4_1 *y, int64_t n) {
    for (int64_t b = 0; b < n / CK_QK; b++, x += CK_QK) {
        float min = x[0], max = x[0];
        for (int j = 1; j < CK_QK; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = ck_fp32_to_fp16(d);
        y[b].m = ck_fp32_to_fp16(min);
        for (int j = 0; j < CK_QK / 2; j++) {
            int lo = (int)((x[j] - min) * id + 0.5f), hi = (int)((x[j + CK_QK / 2] - min) * id + 0.5f);
            lo = lo > 15 ? 15 : lo;
            hi = hi > 15 ? 15 : hi;
            y[b].qs[j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

// Activation quantizers follow ggml's x86 path (the one llama.cpp runs): scale 127/amax and
// round-half-to-even, so both implementations here produce identical blocks.
static float q8_block(const float *x, int8_t *qs, int *sum) {
    float amax = 0.0f;
    for (int j = 0; j < CK_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int s = 0;
    for (int j = 0; j < CK_QK; j++) {
        qs[j] = (int8_t)lrintf(x[j] * id);
        s += qs[j];
    }
    *sum = s;
    return d;
}

void ck__quantize_row_q8_0_ref(const float *x, ck_block_q8_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / CK_QK; b++) {
        int sum;
        y[b].d = ck_fp32_to_fp16(q8_block(x + b * CK_QK, y[b].qs, &sum));
    }
}

void ck__quantize_row_q8_1_ref(const float *x, ck_block_q8_1 *y, int64_t n) {
    for (int64_t b = 0; b < n / CK_QK; b++) {
        int sum;
        const float d = q8_block(x + b * CK_QK, y[b].qs, &sum);
        y[b].d = ck_fp32_to_fp16(d);
        y[b].s = ck_fp32_to_fp16(d * (float)sum);
    }
}

void ck_quantize_row_q8_0(const float *x, ck_block_q8_0 *y, int64_t n) {
    if (ck__use_simd()) ck__quantize_row_q8_0_avx2(x, y, n);
    else ck__quantize_row_q8_0_ref(x, y, n);
}

void ck_quantize_row_q8_1(const float *x, ck_block_q8_1 *y, int64_t n) {
    if (ck__use_simd()) ck__quantize_row_q8_1_avx2(x, y, n);
    else ck__quantize_row_q8_1_ref(x, y, n);
}

// MARK: - Dequantization

void ck_dequantize_row(int type, const void *src, float *dst, int64_t n) {
    switch (type) {
    case CK_F32: memcpy(dst, src, (size_t)n * 4); return;
    case CK_F16: ck_fp16_to_fp32_row(src, dst, n); return;
    case CK_BF16: {
        const uint16_t *h = src;
        for (int64_t i = 0; i < n; i++) dst[i] = ck_bf16_to_fp32(h[i]);
        return;
    }
    case CK_Q4_0: {
        const ck_block_q4_0 *x = src;
        for (int64_t b = 0; b < n / CK_QK; b++, dst += CK_QK) {
            const float d = ck_fp16_to_fp32(x[b].d);
            for (int j = 0; j < CK_QK / 2; j++) {
                dst[j] = (float)((x[b].qs[j] & 0x0f) - 8) * d;
                dst[j + CK_QK / 2] = (float)((x[b].qs[j] >> 4) - 8) * d;
            }
        }
        return;
    }
    case CK_Q4_1: {
        const ck_block_q4_1 *x = src;
        for (int64_t b = 0; b < n / CK_QK; b++, dst += CK_QK) {
            const float d = ck_fp16_to_fp32(x[b].d), m = ck_fp16_to_fp32(x[b].m);
            for (int j = 0; j < CK_QK / 2; j++) {
                dst[j] = (float)(x[b].qs[j] & 0x0f) * d + m;
                dst[j + CK_QK / 2] = (float)(x[b].qs[j] >> 4) * d + m;
            }
        }
        return;
    }
    case CK_Q8_0: {
        const ck_block_q8_0 *x = src;
        for (int64_t b = 0; b < n / CK_QK; b++, dst += CK_QK) {
            const float d = ck_fp16_to_fp32(x[b].d);
            for (int j = 0; j < CK_QK; j++) dst[j] = (float)x[b].qs[j] * d;
        }
        return;
    }
    case CK_Q8_1: {
        const ck_block_q8_1 *x = src;
        for (int64_t b = 0; b < n / CK_QK; b++, dst += CK_QK) {
            const float d = ck_fp16_to_fp32(x[b].d);
            for (int j = 0; j < CK_QK; j++) dst[j] = (float)x[b].qs[j] * d;
        }
        return;
    }
    case CK_Q5_0: ck__dequantize_row_q5_0(src, dst, n); return;
    case CK_Q2_K: ck__dequantize_row_q2_K(src, dst, n); return;
    case CK_Q3_K: ck__dequantize_row_q3_K(src, dst, n); return;
    case CK_Q4_K: ck__dequantize_row_q4_K(src, dst, n); return;
    case CK_Q5_1: ck__dequantize_row_q5_1(src, dst, n); return;
    case CK_Q5_K: ck__dequantize_row_q5_K(src, dst, n); return;
    case CK_IQ4_XS: ck__dequantize_row_iq4_xs(src, dst, n); return;
    case CK_IQ4_NL: ck__dequantize_row_iq4_nl(src, dst, n); return;
    case CK_Q6_K: ck__dequantize_row_q6_K(src, dst, n); return;
    case CK_Q8_K: {
        const ck_block_q8_K *x = src;
        for (int64_t b = 0; b < n / CK_QK_K; b++, dst += CK_QK_K) {
            for (int j = 0; j < CK_QK_K; j++) dst[j] = x[b].d * (float)x[b].qs[j];
        }
        return;
    }
    default:
        memset(dst, 0, (size_t)n * 4);
    }
}

// MARK: - Activations

int ck_activation_type(int weight_type) {
    switch (weight_type) {
    case CK_Q4_0: case CK_Q5_0: case CK_Q8_0: case CK_IQ4_NL: return CK_Q8_0;
    case CK_Q4_1: case CK_Q5_1: return CK_Q8_1;
    case CK_Q2_K: case CK_Q3_K: case CK_Q4_K: case CK_Q5_K: case CK_Q6_K: case CK_IQ4_XS: return CK_Q8_K;
    case CK_F16: return CK_F16;
    default: return CK_F32;
    }
}

void ck_prepare_activation(int weight_type, const float *x, void *dst, int64_t n) {
    switch (ck_activation_type(weight_type)) {
    case CK_Q8_0: ck_quantize_row_q8_0(x, dst, n); return;
    case CK_Q8_1: ck_quantize_row_q8_1(x, dst, n); return;
    case CK_Q8_K: ck_quantize_row_q8_K(x, dst, n); return;
    case CK_F16: ck_fp32_to_fp16_row(x, dst, n); return;
    default: memcpy(dst, x, (size_t)n * 4);
    }
}

// MARK: - Reference dots: integer sums per block, one scale multiply per block.

float ck__dot_q4_0_q8_0_ref(int64_t n, const void *w, const void *a) {
    const ck_block_q4_0 *x = w;
    const ck_block_q8_0 *y = a;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / CK_QK; b++) {
        int sumi = 0;
        for (int j = 0; j < CK_QK / 2; j++) {
            sumi += ((x[b].qs[j] & 0x0f) - 8) * y[b].qs[j] + ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + CK_QK / 2];
        }
        // llama.cpp's order for Q4_0 matrices (it repacks them into 8-row groups: one FMA per block).
        sum = fmaf((float)sumi, ck_fp16_to_fp32(x[b].d) * ck_fp16_to_fp32(y[b].d), sum);
    }
    return sum;
}

float ck__dot_q4_1_q8_1_ref(int64_t n, const void *w, const void *a) {
    const ck_block_q4_1 *x = w;
    const ck_block_q8_1 *y = a;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / CK_QK; b++) {
        int sumi = 0;
        for (int j = 0; j < CK_QK / 2; j++) {
            sumi += (x[b].qs[j] & 0x0f) * y[b].qs[j] + (x[b].qs[j] >> 4) * y[b].qs[j + CK_QK / 2];
        }
        // q*d + m summed against y: d_x*d_y*sum(q*qy) + m * (d_y*sum(qy)) where s = d_y*sum(qy).
        sum += (ck_fp16_to_fp32(x[b].d) * ck_fp16_to_fp32(y[b].d)) * (float)sumi
             + ck_fp16_to_fp32(x[b].m) * ck_fp16_to_fp32(y[b].s);
    }
    return sum;
}

float ck__dot_q8_0_q8_0_ref(int64_t n, const void *w, const void *a) {
    const ck_block_q8_0 *x = w;
    const ck_block_q8_0 *y = a;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / CK_QK; b++) {
        int sumi = 0;
        for (int j = 0; j < CK_QK; j++) sumi += x[b].qs[j] * y[b].qs[j];
        sum += (float)sumi * (ck_fp16_to_fp32(x[b].d) * ck_fp16_to_fp32(y[b].d));
    }
    return sum;
}

float ck__dot_f16_f16_ref(int64_t n, const void *w, const void *a) {
    const uint16_t *x = w, *y = a;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(ck_fp16_to_fp32(x[i]) * ck_fp16_to_fp32(y[i]));
    return (float)sum;
}

float ck__dot_f32_f32_ref(int64_t n, const void *w, const void *a) {
    const float *x = w, *y = a;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * y[i]);
    return (float)sum;
}

float ck__dot_bf16_f32_ref(int64_t n, const void *w, const void *a) {
    const uint16_t *x = w;
    const float *y = a;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(ck_bf16_to_fp32(x[i]) * y[i]);
    return (float)sum;
}

float ck_vec_dot_ref(int type, int64_t n, const void *w_row, const void *act_row) {
    switch (type) {
    case CK_Q4_0: return ck__dot_q4_0_q8_0_ref(n, w_row, act_row);
    case CK_Q4_1: return ck__dot_q4_1_q8_1_ref(n, w_row, act_row);
    case CK_Q8_0: return ck__dot_q8_0_q8_0_ref(n, w_row, act_row);
    case CK_F16: return ck__dot_f16_f16_ref(n, w_row, act_row);
    case CK_F32: return ck__dot_f32_f32_ref(n, w_row, act_row);
    case CK_BF16: return ck__dot_bf16_f32_ref(n, w_row, act_row);
    case CK_Q5_0: return ck__dot_q5_0_q8_0_ref(n, w_row, act_row);
    case CK_Q2_K: return ck__dot_q2_K_q8_K_ref(n, w_row, act_row);
    case CK_Q3_K: return ck__dot_q3_K_q8_K_ref(n, w_row, act_row);
    case CK_Q4_K: return ck__dot_q4_K_q8_K_ref(n, w_row, act_row);
    case CK_Q5_1: return ck__dot_q5_1_q8_1_ref(n, w_row, act_row);
    case CK_Q5_K: return ck__dot_q5_K_q8_K_ref(n, w_row, act_row);
    case CK_IQ4_XS: return ck__dot_iq4_xs_q8_K_ref(n, w_row, act_row);
    case CK_IQ4_NL: return ck__dot_iq4_nl_q8_0_ref(n, w_row, act_row);
    case CK_Q6_K: return ck__dot_q6_K_q8_K_ref(n, w_row, act_row);
    default: return 0.0f;
    }
}
