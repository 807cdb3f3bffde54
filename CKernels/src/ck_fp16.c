// IEEE half precision conversions, bit-exact and round-to-nearest-even.
#include "ck_internal.h"

#include <string.h>

static inline uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float float_of(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float ck_fp16_to_fp32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1fu;
    const uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0) {
        // Zero or subnormal: mantissa * 2^-24 is exact in f32.
        const float magnitude = (float)mantissa * 0x1.0p-24f;
        return sign ? -magnitude : magnitude;
    }
    if (exponent == 31) return float_of(sign | 0x7f800000u | (mantissa << 13)); // inf / NaN
    return float_of(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

uint16_t ck_fp32_to_fp16(float f) {
    // Scaling by 2^112 then 2^-110 lets the FPU do the rounding: adding a power of two aligned
    // with the half's least significant bit rounds the mantissa to nearest-even, including
    // for results that land in the half subnormal range.
    const uint32_t w = bits_of(f);
    const uint32_t doubled = w + w; // drops the sign
    const uint32_t sign = w & 0x80000000u;
    float base = (float_of(w & 0x7fffffffu) * 0x1.0p+112f) * 0x1.0p-110f;
    uint32_t bias = doubled & 0xff000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    base = float_of((bias >> 1) + 0x07800000u) + base;
    const uint32_t rounded = bits_of(base);
    const uint32_t exponent_bits = (rounded >> 13) & 0x7c00u;
    const uint32_t mantissa_bits = rounded & 0x0fffu;
    const uint32_t magnitude = doubled > 0xff000000u ? 0x7e00u : exponent_bits + mantissa_bits; // NaN stays NaN
    return (uint16_t)((sign >> 16) | magnitude);
}

float ck_bf16_to_fp32(uint16_t h) { return float_of((uint32_t)h << 16); }

void ck__fp16_to_fp32_row_ref(const uint16_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = ck_fp16_to_fp32(src[i]);
}

void ck__fp32_to_fp16_row_ref(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = ck_fp32_to_fp16(src[i]);
}

void ck_fp16_to_fp32_row(const uint16_t *src, float *dst, int64_t n) {
    if (ck__use_simd()) ck__fp16_to_fp32_row_avx2(src, dst, n);
    else ck__fp16_to_fp32_row_ref(src, dst, n);
}

void ck_fp32_to_fp16_row(const float *src, uint16_t *dst, int64_t n) {
    if (ck__use_simd()) ck__fp32_to_fp16_row_avx2(src, dst, n);
    else ck__fp32_to_fp16_row_ref(src, dst, n);
}
