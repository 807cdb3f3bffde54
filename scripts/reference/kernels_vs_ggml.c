// Our quantized dot kernels against llama.cpp's own (ggml-cpu's vec_dot for each type, fed
// activations quantized by ggml's from_float) on random blocks: every result must be the same
// float, bit for bit. A developer check of the reference build, not part of CI:
//   scripts/reference/check_kernels_vs_ggml.sh [LLAMA_DIR]  (builds this file with CKernels)
#include <ggml.h>
#include <ggml-cpu.h>

#include "ckernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 88172645463325252ULL;
static uint64_t next(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state; }
static float uniform(void) { return (float)((double)(next() % 2000001) / 1e6 - 1.0); }

typedef struct { int type; const char *name; int scale_offsets[2]; } case_t;

// llama.cpp repacks Q4_K matrices (rows a multiple of 8) into 8-row groups and runs
// ggml_gemv_q4_K_8x8_q8_K on them (exported by libggml-cpu). Its block: the 8 rows' d and dmin,
// per sub-block the 8 rows' 6-bit scales and mins packed as one Q4_K scale array packs its 8
// sub-blocks, and the rows' quants interleaved 8 bytes at a time.
typedef struct { uint16_t d[8], dmin[8]; uint8_t scales[96]; uint8_t qs[1024]; } block_q4_Kx8;
void ggml_gemv_q4_K_8x8_q8_K(int n, float *s, size_t bs, const void *vx, const void *vy, int nr, int nc);
void ck__unpack_scales_k4(const uint8_t scales[12], int sc[8], int m[8]);
typedef void (*ck_dot4_fn)(int64_t n, const void *w, size_t w_stride, const void *act_row, float out[4]);
ck_dot4_fn ck__dot4_for(int type);

static void pack_scales_k4(const int sc[8], const int m[8], uint8_t q[12]) {
    for (int j = 0; j < 4; j++) {
        q[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        q[j + 4] = (uint8_t)(m[j] | ((m[j + 4] >> 4) << 6));
        q[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
    }
}

static block_q4_Kx8 interleave_q4_K(const ck_block_q4_K *rows[8], int64_t b) {
    block_q4_Kx8 out;
    int sc[8][8], m[8][8];
    for (int r = 0; r < 8; r++) {
        out.d[r] = rows[r][b].d;
        out.dmin[r] = rows[r][b].dmin;
        ck__unpack_scales_k4(rows[r][b].scales, sc[r], m[r]);
    }
    for (int j = 0; j < 8; j++) {
        int s8[8], m8[8];
        for (int r = 0; r < 8; r++) { s8[r] = sc[r][j]; m8[r] = m[r][j]; }
        pack_scales_k4(s8, m8, out.scales + 12 * j);
    }
    for (int i = 0; i < 128; i++) memcpy(out.qs + 8 * i, rows[i % 8][b].qs + (i / 8) * 8, 8);
    return out;
}

typedef struct { uint16_t d[8]; uint8_t qs[128]; } block_b32x8; // Q4_0 and IQ4_NL repacked: 18-byte blocks of 8 rows
typedef void (*gemv_fn)(int n, float *s, size_t bs, const void *vx, const void *vy, int nr, int nc);
void ggml_gemv_iq4_nl_8x8_q8_0(int n, float *s, size_t bs, const void *vx, const void *vy, int nr, int nc);
void ggml_gemv_q4_0_8x8_q8_0(int n, float *s, size_t bs, const void *vx, const void *vy, int nr, int nc);

/// Eight random rows of `type` (Q4_0 or IQ4_NL: f16 d and 16 bytes of nibbles per block) through
/// llama.cpp's repacked gemv (8-byte interleave; Q4_0's nibbles xor 0x88, read as signed) and ours.
static int check_b32_gemv(int type, const char *name, gemv_fn gemv, uint8_t xor_mask) {
    int same = 0, total = 0;
    for (int n = 256; n <= 2048; n += 256) {
        for (int trial = 0; trial < 25; trial++) {
            const int64_t nb = n / CK_QK;
            ck_block_iq4_nl *w = malloc(sizeof(ck_block_iq4_nl) * nb * 8); // the same layout as ck_block_q4_0
            for (size_t i = 0; i < sizeof(ck_block_iq4_nl) * nb * 8; i++) ((uint8_t *)w)[i] = (uint8_t)next();
            for (int64_t b = 0; b < nb * 8; b++) w[b].d = ck_fp32_to_fp16(0.0005f + fabsf(uniform()) * 0.01f);
            block_b32x8 *packed = malloc(sizeof(block_b32x8) * nb);
            for (int64_t b = 0; b < nb; b++) {
                for (int r = 0; r < 8; r++) packed[b].d[r] = w[r * nb + b].d;
                for (int i = 0; i < 16; i++) {
                    for (int k = 0; k < 8; k++) packed[b].qs[8 * i + k] = w[(i % 8) * nb + b].qs[(i / 8) * 8 + k] ^ xor_mask;
                }
            }
            float *x = malloc(sizeof(float) * n);
            for (int i = 0; i < n; i++) x[i] = uniform() * (trial % 5 == 0 ? 30.0f : 2.0f);
            ck_block_q8_0 *a = malloc(sizeof(ck_block_q8_0) * nb);
            ck_quantize_row_q8_0(x, a, n);
            float theirs[8], ours[8];
            gemv(n, theirs, 8, packed, a, 1, 8);
            ck__dot4_for(type)(n, w, sizeof(ck_block_iq4_nl) * nb, a, ours);
            float *ours_w = malloc(sizeof(float) * n), *ggml_w = malloc(sizeof(float) * n);
            ck_dequantize_row(type, w, ours_w, n);
            ggml_get_type_traits((enum ggml_type)type)->to_float(w, ggml_w, n);
            if (memcmp(ours_w, ggml_w, sizeof(float) * n) != 0) total += 1000000; // a dequantization mismatch fails the check
            free(ours_w); free(ggml_w);
            for (int r = 0; r < 8; r++) {
                const float single = ck_vec_dot(type, n, w + r * nb, a);
                total++;
                if (memcmp(&single, &theirs[r], 4) == 0 && memcmp(&ours[r % 4], &theirs[r % 4], 4) == 0) same++;
            }
            free(w); free(packed); free(x); free(a);
        }
    }
    printf("%-8s dots %4d of %4d equal bit for bit against llama.cpp's repacked gemv (one row and four rows); dequantized rows equal\n", name, same, total);
    return same == total;
}

/// Eight random Q4_K rows through llama.cpp's repacked gemv and through ours.
static int check_q4_K_gemv(void) {
    int same = 0, total = 0;
    for (int n = 256; n <= 2048; n += 256) {
        for (int trial = 0; trial < 25; trial++) {
            const int64_t nb = n / CK_QK_K;
            ck_block_q4_K *w = malloc(sizeof(ck_block_q4_K) * nb * 8);
            for (size_t i = 0; i < sizeof(ck_block_q4_K) * nb * 8; i++) ((uint8_t *)w)[i] = (uint8_t)next();
            for (int64_t b = 0; b < nb * 8; b++) {
                w[b].d = ck_fp32_to_fp16(0.0005f + fabsf(uniform()) * 0.01f);
                w[b].dmin = ck_fp32_to_fp16(0.0005f + fabsf(uniform()) * 0.01f);
            }
            const ck_block_q4_K *rows[8];
            for (int r = 0; r < 8; r++) rows[r] = w + r * nb;
            block_q4_Kx8 *packed = malloc(sizeof(block_q4_Kx8) * nb);
            for (int64_t b = 0; b < nb; b++) packed[b] = interleave_q4_K(rows, b);
            float *x = malloc(sizeof(float) * n);
            for (int i = 0; i < n; i++) x[i] = uniform() * (trial % 5 == 0 ? 30.0f : 2.0f);
            ck_block_q8_K *a = malloc(sizeof(ck_block_q8_K) * nb);
            ck_quantize_row_q8_K(x, a, n);
            float theirs[8];
            ggml_gemv_q4_K_8x8_q8_K(n, theirs, 8, packed, a, 1, 8);
            float *ours_w = malloc(sizeof(float) * n), *ggml_w = malloc(sizeof(float) * n);
            ck_dequantize_row(CK_Q4_K, w, ours_w, n);
            ggml_get_type_traits(GGML_TYPE_Q4_K)->to_float(w, ggml_w, n);
            if (memcmp(ours_w, ggml_w, sizeof(float) * n) != 0) total += 1000000; // a dequantization mismatch fails the check
            free(ours_w); free(ggml_w);
            for (int r = 0; r < 8; r++) {
                const float ours = ck_vec_dot(CK_Q4_K, n, rows[r], a);
                total++;
                if (memcmp(&ours, &theirs[r], 4) == 0) same++;
            }
            free(w); free(packed); free(x); free(a);
        }
    }
    printf("%-8s dots %4d of %4d equal bit for bit against llama.cpp's repacked gemv; dequantized rows equal\n", "Q4_K", same, total);
    return same == total;
}

int main(void) {
    ggml_cpu_init();
    const case_t cases[] = {
{ CK_Q4_1, "Q4_1", { 0, 2 } }, { CK_Q8_0, "Q8_0", { 0, -1 } },
        { CK_Q5_0, "Q5_0", { 0, -1 } }, { CK_Q5_1, "Q5_1", { 0, 2 } }, { CK_Q5_K, "Q5_K", { 0, 2 } },
        { CK_Q6_K, "Q6_K", { 208, -1 } }, { CK_Q2_K, "Q2_K", { 80, 82 } }, { CK_Q3_K, "Q3_K", { 108, -1 } }, { CK_IQ4_XS, "IQ4_XS", { 0, -1 } },
    };
    int failures = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const case_t *k = &cases[c];
        const struct ggml_type_traits_cpu *traits = ggml_get_type_traits_cpu((enum ggml_type)k->type);
        int same = 0, total = 0, dequantized_same = 0;
        double worst = 0;
        for (int n = 256; n <= 2048; n += 256) {
            for (int trial = 0; trial < 25; trial++) {
                const int64_t be = ck_type_block_elements(k->type);
                const size_t block_bytes = ck_row_size(k->type, be), row = ck_row_size(k->type, n);
                uint8_t *w = malloc(row);
                for (size_t i = 0; i < row; i++) w[i] = (uint8_t)next();
                for (int64_t b = 0; b < n / be; b++) {
                    for (int s = 0; s < 2; s++) {
                        if (k->scale_offsets[s] < 0) continue;
                        const uint16_t h = ck_fp32_to_fp16(0.0005f + fabsf(uniform()) * 0.01f);
                        memcpy(w + b * block_bytes + k->scale_offsets[s], &h, 2);
                    }
                }
                float *x = malloc(sizeof(float) * n);
                for (int i = 0; i < n; i++) x[i] = uniform() * (trial % 5 == 0 ? 30.0f : 2.0f);
                const size_t act_bytes = ck_row_size(ck_activation_type(k->type), n);
                uint8_t *ours_act = malloc(act_bytes), *ggml_act = malloc(act_bytes);
                ck_prepare_activation(k->type, x, ours_act, n);
                ggml_get_type_traits_cpu(traits->vec_dot_type)->from_float(x, ggml_act, n);
                float *ours_w = malloc(sizeof(float) * n), *ggml_w = malloc(sizeof(float) * n);
                ck_dequantize_row(k->type, w, ours_w, n);
                ggml_get_type_traits((enum ggml_type)k->type)->to_float(w, ggml_w, n);
                dequantized_same += memcmp(ours_w, ggml_w, sizeof(float) * n) == 0;
                free(ours_w); free(ggml_w);
                const float ours = ck_vec_dot(k->type, n, w, ours_act);
                float theirs;
                traits->vec_dot(n, &theirs, 0, w, 0, ggml_act, 0, 1);
                total++;
                if (memcmp(&ours, &theirs, 4) == 0 && memcmp(ours_act, ggml_act, act_bytes) == 0) same++;
                const double d = fabs((double)ours - theirs) / (fabs(theirs) + 1e-30);
                if (d > worst) worst = d;
                free(w); free(x); free(ours_act); free(ggml_act);
            }
        }
        printf("%-8s dots %4d of %4d equal bit for bit (activations too), worst relative difference %.2e; "
               "dequantized rows %4d of %4d equal\n", k->name, same, total, worst, dequantized_same, total);
        if (same != total || dequantized_same != total) failures++;
    }
    if (!check_q4_K_gemv()) failures++;
    if (!check_b32_gemv(CK_IQ4_NL, "IQ4_NL", ggml_gemv_iq4_nl_8x8_q8_0, 0)) failures++;
    if (!check_b32_gemv(CK_Q4_0, "Q4_0", ggml_gemv_q4_0_8x8_q8_0, 0x88)) failures++;
    return failures != 0;
}
