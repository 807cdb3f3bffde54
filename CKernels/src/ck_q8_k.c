// Q8_K: the activations K-quant weights are multiplied with (ggml's block_q8_K): super-blocks of
// 256 int8 quants, an f32 scale, and the sums of each 16 quants for the min/offset terms.
// llama.cpp's x86 build quantizes these with the reference code (quantize_row_q8_K_ref), so this
// one is written the same way: the signed value of largest magnitude maps to -127, rounding
// half to even through the float mantissa, d = 1 / iscale.
#include "ck_internal.h"

#include <math.h>
#include <string.h>

/// ggml's nearest_int: x + 1.5 * 2^23 rounds to an integer in the mantissa (|x| < 2^22).
static inline int nearest_int(float x) {
    const float v = x + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

void ck_quantize_row_q8_K(const float *x, ck_block_q8_K *y, int64_t n) {
    for (int64_t b = 0; b < n / CK_QK_K; b++, x += CK_QK_K) {
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < CK_QK_K; j++) {
            const float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < CK_QK_K; j++) {
            const int v = nearest_int(iscale * x[j]);
            y[b].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < CK_QK_K / 16; j++) {
            int sum = 0;
            for (int k = 0; k < 16; k++) sum += y[b].qs[j * 16 + k];
            y[b].bsums[j] = (int16_t)sum;
        }
        y[b].d = 1.0f / iscale;
    }
}
