// Run-time choice between the scalar references, the AVX2/FMA/F16C kernels and, for the packed
// batch tiles, the AVX-512 VNNI ones.
#include "ck_internal.h"

#include <stdlib.h>
#include <string.h>

static atomic_int force_scalar = 0;
static atomic_int avx2_only = -1; // -1: not yet read from PLUMISE_SIMD

int ck_cpu_has_avx2_fma_f16c(void) {
#if defined(__x86_64__) || defined(__i386__)
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    }
    return cached;
#else
    return 0;
#endif
}

int ck_cpu_has_avx512(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512dq");
    }
    return cached;
#else
    return 0;
#endif
}

int ck_cpu_has_avx512_vnni(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = ck_cpu_has_avx512() && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    }
    return cached;
#else
    return 0;
#endif
}

void ck_set_force_scalar(int on) { atomic_store(&force_scalar, on ? 1 : 0); }

void ck_set_avx2_only(int on) { atomic_store(&avx2_only, on ? 1 : 0); }

int ck__use_avx512_vnni(void) {
    int only = atomic_load(&avx2_only);
    if (only < 0) {
        const char *simd = getenv("PLUMISE_SIMD");
        int expected = -1;
        atomic_compare_exchange_strong(&avx2_only, &expected, simd && strcmp(simd, "avx2") == 0 ? 1 : 0);
        only = atomic_load(&avx2_only);
    }
    return !only && ck__use_simd() && ck_cpu_has_avx512_vnni();
}

int ck__use_simd(void) { return !atomic_load(&force_scalar) && ck_cpu_has_avx2_fma_f16c(); }

ck_dot_fn ck__dot_for(int type) {
    const int simd = ck__use_simd();
    switch (type) {
    case CK_Q4_0: return simd ? ck__dot_q4_0_q8_0_avx2 : ck__dot_q4_0_q8_0_ref;
    case CK_Q4_1: return simd ? ck__dot_q4_1_q8_1_avx2 : ck__dot_q4_1_q8_1_ref;
    case CK_Q8_0: return simd ? ck__dot_q8_0_q8_0_avx2 : ck__dot_q8_0_q8_0_ref;
    case CK_F16: return simd ? ck__dot_f16_f16_avx2 : ck__dot_f16_f16_ref;
    case CK_F32: return simd ? ck__dot_f32_f32_avx2 : ck__dot_f32_f32_ref;
    case CK_BF16: return ck__dot_bf16_f32_ref;
    case CK_Q5_0: return simd ? ck__dot_q5_0_q8_0_avx2 : ck__dot_q5_0_q8_0_ref;
    case CK_Q2_K: return simd ? ck__dot_q2_K_q8_K_avx2 : ck__dot_q2_K_q8_K_ref;
    case CK_Q3_K: return simd ? ck__dot_q3_K_q8_K_avx2 : ck__dot_q3_K_q8_K_ref;
    case CK_Q4_K: return simd ? ck__dot_q4_K_q8_K_avx2 : ck__dot_q4_K_q8_K_ref;
    case CK_Q5_1: return simd ? ck__dot_q5_1_q8_1_avx2 : ck__dot_q5_1_q8_1_ref;
    case CK_Q5_K: return simd ? ck__dot_q5_K_q8_K_avx2 : ck__dot_q5_K_q8_K_ref;
    case CK_IQ4_XS: return simd ? ck__dot_iq4_xs_q8_K_avx2 : ck__dot_iq4_xs_q8_K_ref;
    case CK_IQ4_NL: return simd ? ck__dot_iq4_nl_q8_0_avx2 : ck__dot_iq4_nl_q8_0_ref;
    case CK_Q6_K: return simd ? ck__dot_q6_K_q8_K_avx2 : ck__dot_q6_K_q8_K_ref;
    default: return 0;
    }
}

ck_dot4_fn ck__dot4_for(int type) {
    if (!ck__use_simd()) return 0;
    switch (type) {
    case CK_Q4_0: return ck__dot4_q4_0_q8_0_avx2;
    case CK_Q4_1: return ck__dot4_q4_1_q8_1_avx2;
    case CK_Q8_0: return ck__dot4_q8_0_q8_0_avx2;
    case CK_Q5_0: return ck__dot4_q5_0_q8_0_avx2;
    case CK_Q5_1: return ck__dot4_q5_1_q8_1_avx2;
    case CK_IQ4_NL: return ck__dot4_iq4_nl_q8_0_avx2;
    default: return 0;
    }
}

ck_kdot4_fn ck__kdot4_for(int type) {
#if defined(__x86_64__)
    if (!ck__use_simd()) return 0;
    switch (type) {
    case CK_Q2_K: return ck__dot4_q2_K_q8_K_avx2;
    case CK_Q3_K: return ck__dot4_q3_K_q8_K_avx2;
    case CK_Q4_K: return ck__dot4_q4_K_q8_K_avx2;
    case CK_Q5_K: return ck__dot4_q5_K_q8_K_avx2;
    case CK_Q6_K: return ck__dot4_q6_K_q8_K_avx2;
    case CK_IQ4_XS: return ck__dot4_iq4_xs_q8_K_avx2;
    default: return 0;
    }
#else
    (void)type;
    return 0;
#endif
}

ck_tile4x2_fn ck__tile4x2_for(int type) {
    if (!ck__use_simd()) return 0;
    switch (type) {
    case CK_Q5_0: return ck__tile4x2_q5_0_q8_0_avx2;
    case CK_Q5_1: return ck__tile4x2_q5_1_q8_1_avx2;
    default: return 0;
    }
}

float ck_vec_dot(int type, int64_t n, const void *w_row, const void *act_row) {
    ck_dot_fn dot = ck__dot_for(type);
    return dot ? dot(n, w_row, act_row) : 0.0f;
}
