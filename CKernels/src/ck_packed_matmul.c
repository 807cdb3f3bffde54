// Products with weights packed in four-row groups (layout in ck_packed.c): activations prepared
// once per call, groups split across the pool, each group's tokens in tiles (Q4_1, Q8_0) or one at
// a time (the GEMV kernels of ck_packed_q4.c / ck_packed_q5.c), batches of the panel types
// through the panel GEMM and K-quants through ck_kquant_matmul.c.
#include "ck_packed_internal.h"

#include <stdlib.h>
#include <string.h>

// MARK: - Activations for the packed kernels
//
// Per token: nb x 32 int8 quants, then nb f32 scales d, then (Q8_1) nb f32 sums s: the values
// of ck_prepare_activation's Q8_0/Q8_1 blocks with the f16 scales widened once per matmul
// instead of once per row; then, at CK_ACT_PAIRS_OFFSET, each two blocks' d four times over
// (d_b x 4, d_b+1 x 4), the vector the scale products multiply a group's eight scales by.

static size_t packed_act_bytes(const ck_packed *p) {
    return ck__round_up(CK_ACT_PAIRS_OFFSET(p->nb) + (size_t)(p->nb / 2) * 32, 64);
}

/// The scalar path's activations: each block through ck_quantize_row_q8_0 / _q8_1 (the
/// references there), its f16 fields widened.
static void pack_blocks_ref(const ck_packed *p, const float *x, int8_t *qs, float *d, float *s) {
    for (int64_t b = 0; b < p->nb; b++) {
        if (ck_activation_type(p->type) == CK_Q8_1) {
            ck_block_q8_1 blk;
            ck_quantize_row_q8_1(x + b * CK_QK, &blk, CK_QK);
            memcpy(qs + b * 32, blk.qs, 32);
            d[b] = ck_fp16_to_fp32(blk.d);
            s[b] = ck_fp16_to_fp32(blk.s);
        } else {
            ck_block_q8_0 blk;
            ck_quantize_row_q8_0(x + b * CK_QK, &blk, CK_QK);
            memcpy(qs + b * 32, blk.qs, 32);
            d[b] = ck_fp16_to_fp32(blk.d);
        }
    }
}

/// with_pairs: also the scale pairs (only the tiles' scale products read them).
static void pack_activation(const ck_packed *p, const float *x, uint8_t *dst, int with_pairs) {
    int8_t *qs = (int8_t *)dst;
    float *d = (float *)(dst + (size_t)p->nb * 32);
    float *s = d + p->nb;
    if (ck__use_simd()) ck__pack_activation_avx2(x, p->nb, qs, d, ck_activation_type(p->type) == CK_Q8_1 ? s : NULL);
    else pack_blocks_ref(p, x, qs, d, s);
    if (!with_pairs) return;
    float *pairs = (float *)(dst + CK_ACT_PAIRS_OFFSET(p->nb));
    for (int64_t b = 0; b + 2 <= p->nb; b += 2)
        for (int r = 0; r < CK_GROUP; r++) {
            pairs[4 * b + r] = d[b];
            pairs[4 * b + CK_GROUP + r] = d[b + 1];
        }
}

/// Scalar path (no AVX2, or ck_set_force_scalar): rebuild each row and run the reference dot
/// on the rebuilt activation blocks.
static void group_ref(const ck_packed *p, int64_t g, const uint8_t *act, float out[4]) {
    const size_t row_bytes = ck_row_size(p->type, p->cols);
    const int act_type = ck_activation_type(p->type);
    const size_t act_bytes = ck_row_size(act_type, p->cols);
    uint8_t *w = malloc(row_bytes), *a = malloc(act_bytes);
    if (!w || !a) {
        free(w);
        free(a);
        for (int r = 0; r < 4; r++) out[r] = 0.0f;
        return;
    }
    const int8_t *qs = (const int8_t *)act;
    const float *d = (const float *)(act + (size_t)p->nb * 32);
    const float *s = d + p->nb;
    for (int64_t b = 0; b < p->nb; b++) {
        if (act_type == CK_Q8_1) {
            ck_block_q8_1 *y = (ck_block_q8_1 *)a + b;
            y->d = ck_fp32_to_fp16(d[b]);
            y->s = ck_fp32_to_fp16(s[b]);
            memcpy(y->qs, qs + b * 32, 32);
        } else {
            ck_block_q8_0 *y = (ck_block_q8_0 *)a + b;
            y->d = ck_fp32_to_fp16(d[b]);
            memcpy(y->qs, qs + b * 32, 32);
        }
    }
    for (int r = 0; r < 4; r++) {
        ck_packed_row(p, g * CK_GROUP + r, w);
        out[r] = ck_vec_dot_ref(p->type, p->cols, w, a);
    }
    free(w);
    free(a);
}


static ck_packed_wide_tile_fn wide_tile_kernel_for(int type) {
#if defined(__x86_64__)
    if (ck__use_avx512_vnni()) {
        if (type == CK_Q4_1) return ck__packed_vnni_tile_q4_1;
        if (type == CK_Q8_0) return ck__packed_vnni_tile_q8_0;
    }
#endif
    (void)type;
    return NULL;
}

static ck_packed_tile_fn tile_kernel_for(int type) {
#if defined(__x86_64__)
    if (ck__use_simd()) {
        if (type == CK_Q4_1) return ck__packed_tile_q4_1;
        if (type == CK_Q8_0) return ck__packed_tile_q8_0;
    }
#endif
    (void)type;
    return NULL;
}

static ck_packed_group_fn kernel_for(int type) {
#if defined(__x86_64__)
    if (ck__use_simd()) {
        switch (type) {
        case CK_Q4_0: return ck__packed_group_q4_0;
        case CK_Q4_1: return ck__packed_group_q4_1;
        case CK_Q8_0: return ck__packed_group_q8_0;
        case CK_Q5_0: return ck__packed_group_q5_0;
        case CK_Q5_1: return ck__packed_group_q5_1;
        case CK_IQ4_NL: return ck__packed_group_iq4_nl;
        default: break;
        }
    }
#endif
    (void)type;
    return group_ref;
}

typedef struct {
    const ck_packed *p;
    ck_packed_group_fn kernel;
    ck_packed_tile_fn tile; // NULL: one token at a time
    ck_packed_wide_tile_fn wide; // set: the AVX-512 VNNI tiles instead of `tile`
    float *quad_sums;            // wide tiles of a type with a min, and the Q4_1 tiles: CK_QUAD_SUMS of every token
    const uint8_t *act;
    size_t act_bytes;
    int64_t n_tok;
    // Outputs: one matrix (n_out 1, all rows) or one per stacked part, n_tok x its rows; part k
    // starts at group first_group[k].
    int n_out;
    float *out_base[CK_MATMUL_MAX_PARTS];
    int64_t out_rows[CK_MATMUL_MAX_PARTS], first_group[CK_MATMUL_MAX_PARTS];
    // Per thread, for the tiles: CK_TOKEN_TILE x nb x 4 scale products, then (Q4_1) the group's
    // nb x 128 unpacked quants and CK_TOKEN_TILE x 4 sums of mins (ck__packed_prepare_q4_1).
    float *scales;
    size_t scales_per_thread; // floats
    int unpacks;              // the tile reads unpacked quants and sums of mins (Q4_1)
} packed_job;

/// Where token t's four outputs of group g go.
static inline float *out_row(const packed_job *job, int64_t t, int64_t g) {
    int k = job->n_out - 1;
    while (k > 0 && g < job->first_group[k]) k--;
    return job->out_base[k] + t * job->out_rows[k] + (g - job->first_group[k]) * CK_GROUP;
}

/// Tokens per pass over a chunk of groups: their activations stay in L2 while the chunk's
/// weights are reused from cache.
#define CK_TOKEN_TILE 64

/// The unpacked quants and sums of mins in a thread's tile scratch, after its scale products.
static inline uint8_t *pass_quants(const packed_job *job, float *dd) {
    return (uint8_t *)(dd + (size_t)job->p->nb * CK_GROUP * CK_TOKEN_TILE);
}
static inline float *pass_mins(const packed_job *job, float *dd) {
    return (float *)(pass_quants(job, dd) + (size_t)job->p->nb * 128);
}

/// Tokens t ..< t + nt (2 or 3) of group g; dd holds the scale products of the pass's tokens
/// from t0 on (and for Q4_1 the pass's quants and mins after them).
static void run_tile(const packed_job *job, int64_t g, int64_t t, int nt, int64_t t0, float *dd) {
    const int64_t per_token = job->p->nb * CK_GROUP;
    const uint8_t *act[3];
    const float *products[3];
    float *out[3];
    for (int k = 0; k < nt; k++) {
        act[k] = job->act + (size_t)(t + k) * job->act_bytes;
        products[k] = dd + (t + k - t0) * per_token;
        out[k] = out_row(job, t + k, g);
    }
    const uint8_t *quants = job->unpacks ? pass_quants(job, dd) : NULL;
    const float *mins = job->unpacks ? pass_mins(job, dd) + 4 * (t - t0) : NULL;
    job->tile(job->p, g, nt, products, act, quants, mins, out);
}

/// Tokens t0 ..< t1 (t0 a multiple of 4) of group g through the wide tiles: tiles of
/// CK_VNNI_TILE that start at multiples of 4, the rest in the last, or in the last two when it
/// would hold fewer than four tokens (9: 4 and 5).
static void run_wide_tiles(const packed_job *job, int64_t g, int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1;) {
        const int64_t left = t1 - t;
        const int nt = left <= CK_VNNI_TILE ? (int)left : left < CK_VNNI_TILE + 4 ? 4 : CK_VNNI_TILE;
        const uint8_t *act[CK_VNNI_TILE];
        float *out[CK_VNNI_TILE];
        for (int i = 0; i < nt; i++) {
            act[i] = job->act + (size_t)(t + i) * job->act_bytes;
            out[i] = out_row(job, t + i, g);
        }
        job->wide(job->p, g, nt, act, job->quad_sums ? job->quad_sums + CK_QUAD_SUMS(job->p->nb, t / 4, 0) : NULL, out);
        t += nt;
    }
}

/// Groups ahead whose weights are requested while the current one runs (a few KB: far enough
/// for memory's latency at the rate a group is consumed; 4 measured slower in the model).
#define CK_PREFETCH_GROUPS 2

/// Asks for group g's weights (g < end) into the caches.
static inline void prefetch_group(const ck_packed *p, int64_t g, int64_t end) {
    if (g >= end) return;
    const char *base = (const char *)p->data + (size_t)g * p->group_bytes;
    for (size_t off = 0; off < p->group_bytes; off += 64) __builtin_prefetch(base + off, 0, 3);
}

static void packed_groups(void *raw, int64_t begin, int64_t end, int thread_index) {
    const packed_job *job = raw;
    if (job->wide) {
        for (int64_t t0 = 0; t0 < job->n_tok; t0 += CK_TOKEN_TILE) {
            const int64_t t1 = t0 + CK_TOKEN_TILE < job->n_tok ? t0 + CK_TOKEN_TILE : job->n_tok;
            for (int64_t g = begin; g < end; g++) {
                prefetch_group(job->p, g + CK_PREFETCH_GROUPS, end);
                run_wide_tiles(job, g, t0, t1);
            }
        }
        return;
    }
    float *dd = job->scales ? job->scales + (size_t)thread_index * job->scales_per_thread : NULL;
    for (int64_t t0 = 0; t0 < job->n_tok; t0 += CK_TOKEN_TILE) {
        const int64_t t1 = t0 + CK_TOKEN_TILE < job->n_tok ? t0 + CK_TOKEN_TILE : job->n_tok;
        for (int64_t g = begin; g < end; g++) {
            prefetch_group(job->p, g + CK_PREFETCH_GROUPS, end);
            int64_t t = t0;
            if (job->tile && dd && t1 - t0 >= 2) {
#if defined(__x86_64__)
                ck__packed_scale_products(job->p, g, job->act + (size_t)t0 * job->act_bytes, job->act_bytes, t1 - t0, dd);
                if (job->unpacks)
                    ck__packed_prepare_q4_1(job->p, g, job->quad_sums + CK_QUAD_SUMS(job->p->nb, t0 / 4, 0), t1 - t0,
                                            pass_quants(job, dd), pass_mins(job, dd));
#endif
                // Threes, and a lone last token taken as two pairs (it would otherwise stream
                // the group once more for one token).
                const int64_t n = t1 - t0, threes = n % 3 == 1 ? n / 3 - 1 : n / 3;
                for (int64_t k = 0; k < threes; k++, t += 3) run_tile(job, g, t, 3, t0, dd);
                for (; t + 2 <= t1; t += 2) run_tile(job, g, t, 2, t0, dd);
            }
            for (; t < t1; t++) {
                float out[4];
                job->kernel(job->p, g, job->act + (size_t)t * job->act_bytes, out);
                memcpy(out_row(job, t, g), out, sizeof out);
            }
        }
    }
}

typedef struct {
    const ck_packed *p;
    const float *x;
    uint8_t *act;
    size_t act_bytes;
    int with_pairs;
    float *quad_sums; // set: also each token's lanes of the quad sums
} packed_prep_job;

static void packed_prepare(void *raw, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    const packed_prep_job *job = raw;
    const int64_t nb = job->p->nb;
    for (int64_t t = begin; t < end; t++) {
        uint8_t *act = job->act + (size_t)t * job->act_bytes;
        pack_activation(job->p, job->x + t * job->p->cols, act, job->with_pairs);
        if (!job->quad_sums) continue;
        const float *s = (const float *)(act + (size_t)nb * 32) + nb;
        for (int64_t b = 0; b < nb; b++) {
            float *lanes = job->quad_sums + CK_QUAD_SUMS(nb, t / 4, b) + 4 * (t % 4);
            for (int k = 0; k < 4; k++) lanes[k] = s[b];
        }
    }
}

/// Batches of the panel types: GGUF-layout activations into the panel GEMM (ck_block32_gemm.c).
static int matmul_panel(ck_pool *pool, const ck_packed *p, const float *X, int64_t n_tok, float *Y) {
    const size_t act_bytes = ck_row_size(ck_activation_type(p->type), p->cols);
    if (pool) ck__pool_lock_op(pool);
    uint8_t *act = pool ? ck__pool_scratch(pool, 0, act_bytes * (size_t)n_tok) : malloc(act_bytes * (size_t)n_tok);
    if (!act) {
        if (pool) ck__pool_unlock_op(pool);
        return 0;
    }
    ck__prepare_activations(pool, p->type, X, n_tok, p->cols, act, act_bytes);
    ck__matmul_block32_packed(pool, p, act, act_bytes, n_tok, Y);
    if (pool) ck__pool_unlock_op(pool);
    else free(act);
    return 1;
}

void ck_matmul_packed(ck_pool *pool, const ck_packed *p, const float *X, int64_t n_tok, float *Y) {
    ck_matmul_packed_seq(pool, p, X, n_tok, 0, NULL, Y);
}

/// Room in scratch slot `slot` for the quad sums of n_tok tokens, the last quad's lanes past the
/// last token zeroed; NULL without a pool or if scratch fails.
static float *quad_sums_scratch(ck_pool *pool, const ck_packed *p, int64_t n_tok, int slot) {
    if (!pool) return NULL;
    const int64_t quads = (n_tok + 3) / 4;
    float *sums = ck__pool_scratch(pool, slot, sizeof(float) * CK_QUAD_SUMS(p->nb, quads, 0));
    if (sums && n_tok % 4) memset(sums + CK_QUAD_SUMS(p->nb, quads - 1, 0), 0, sizeof(float) * CK_QUAD_SUMS(p->nb, 1, 0));
    return sums;
}

/// The group kernels' product into job-described outputs (every output zero if scratch fails).
static void packed_product(ck_pool *pool, const ck_packed *p, const float *X, int64_t n_tok, packed_job job) {
    const size_t act_bytes = packed_act_bytes(p);
    if (pool) ck__pool_lock_op(pool);
    uint8_t *act = pool ? ck__pool_scratch(pool, 0, act_bytes * (size_t)n_tok) : NULL;
    uint8_t *owned = NULL;
    if (!pool) {
        if (posix_memalign((void **)&owned, 64, act_bytes * (size_t)n_tok) != 0) owned = NULL;
        act = owned;
    }
    if (!act) {
        if (pool) ck__pool_unlock_op(pool);
        for (int k = 0; k < job.n_out; k++) memset(job.out_base[k], 0, sizeof(float) * (size_t)(job.out_rows[k] * n_tok));
        return;
    }
    job.p = p;
    job.kernel = kernel_for(p->type);
    job.tile = n_tok > 1 ? tile_kernel_for(p->type) : NULL;
    job.wide = n_tok > 1 ? wide_tile_kernel_for(p->type) : NULL;
    job.act = act;
    job.act_bytes = act_bytes;
    job.n_tok = n_tok;
    if (job.wide) job.tile = NULL;
    if (job.wide && ck_activation_type(p->type) == CK_Q8_1) {
        job.quad_sums = quad_sums_scratch(pool, p, n_tok, 2);
        if (!job.quad_sums) job.wide = NULL;
    }
    if (job.tile) {
        job.unpacks = p->type == CK_Q4_1;
        job.scales_per_thread = (size_t)p->nb * CK_GROUP * CK_TOKEN_TILE;
        if (job.unpacks) job.scales_per_thread += (size_t)p->nb * 128 / sizeof(float) + 4 * CK_TOKEN_TILE;
        const int threads = ck_pool_threads(pool);
        job.scales = pool ? ck__pool_scratch(pool, 2, sizeof(float) * job.scales_per_thread * (size_t)threads) : NULL;
        // Slot 3: free during a packed product (the F16/F32 GEMM and attention take it).
        if (job.unpacks && job.scales) job.quad_sums = quad_sums_scratch(pool, p, n_tok, 3);
        if (!job.scales || (job.unpacks && !job.quad_sums)) job.tile = NULL;
    }
    packed_prep_job prep = { p, X, act, act_bytes, job.tile != NULL, job.quad_sums };
    ck_pool_run(pool, n_tok, 8, packed_prepare, &prep);
    // Groups of four rows; several chunks per thread balance the two cores.
    ck_pool_run(pool, p->groups, 4, packed_groups, &job);
    if (pool) ck__pool_unlock_op(pool);
    free(owned);
}

void ck_matmul_packed_seq(ck_pool *pool, const ck_packed *p, const float *X, int64_t n_tok, int n_seg, const int64_t *seg_len,
                          float *Y) {
    if (!p || n_tok <= 0) return;
    if (ck__is_kquant(p->type)) {
        ck__matmul_kquant_groups(pool, p->type, p->n_parts, p->data, p->part_rows, p->cols, X, n_tok, n_seg, seg_len, Y);
        return;
    }
    if (n_tok >= 2 && ck__packed_uses_panel(p->type) && ck__use_simd() && matmul_panel(pool, p, X, n_tok, Y)) return;
    packed_job job = { 0 };
    job.n_out = 1;
    job.out_base[0] = Y;
    job.out_rows[0] = p->rows;
    packed_product(pool, p, X, n_tok, job);
}

int ck_matmul_packed_parts_seq(ck_pool *pool, const ck_packed *p, const float *X, int64_t n_tok, int n_seg, const int64_t *seg_len,
                               float *const *Y) {
    (void)n_seg, (void)seg_len; // the types served here keep every token's order whatever its sequence
    if (!p || n_tok <= 0 || ck__is_kquant(p->type) || (n_tok >= 2 && ck__packed_uses_panel(p->type) && ck__use_simd())) return 0;
    packed_job job = { 0 };
    job.n_out = p->n_parts;
    int64_t first = 0;
    for (int k = 0; k < p->n_parts; k++) {
        if (p->part_rows[k] % CK_GROUP != 0) return 0;
        job.out_base[k] = Y[k];
        job.out_rows[k] = p->part_rows[k];
        job.first_group[k] = first / CK_GROUP;
        first += p->part_rows[k];
    }
    if (first != p->rows) return 0; // more parts than the packed matrix records
    packed_product(pool, p, X, n_tok, job);
    return 1;
}
