// Gated GELU as ggml's CPU backend computes it (GGML_GELU_FP16): gelu(x) of the tanh form is
// looked up in a table of all 65536 f16 values, x rounded to f16 first; |x| >= 10 is exact.
#include "ck_internal.h"

#include <math.h>

static uint16_t gelu_table[1 << 16];
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

void ck_geglu_f16_table(float *gate, const float *up, int64_t n) {
    pthread_once(&gelu_table_once, build_gelu_table);
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
