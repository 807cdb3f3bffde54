// Quantized weights repacked at load into a four-row interleaved layout for the GEMV/GEMM.
//
// The arithmetic per output row is exactly the single-row vec-dot's (ggml's order): the same
// integer block sums, the same f32 scale products, the same fused accumulation chains and the
// same final horizontal sum. Only the bytes move: four consecutive rows form a group, and for
// each block column the group stores
//   Q8_0: the four f16 scales together (in a scale area at the front of the group) and the
//         four rows' 32 quants one after another (128 bytes),
//   Q4_0/Q4_1: the four f16 scales (and four f16 mins) together, and the nibbles as two
//         32-byte chunks where byte k of chunk A holds row 0's element k in its low nibble and
//         row 1's element k in its high nibble (chunk B: rows 2 and 3). One AND and one shift
//         give a whole row's 32 quants in element order, instead of a load, shift, insert and
//         AND per row in GGUF's layout.
//   Q2_K ... Q6_K, IQ4_XS: block b of the four rows one after another (one stream per group;
//         the K-quant kernels of ck_kquant_matmul.c read the blocks at these strides).
//   Q5_0/Q5_1/IQ4_NL: as Q4 (IQ4_NL's nibbles are table indices), and for Q5 the four rows'
//         fifth bits of the block in 16 bytes after all the nibbles (ck_packed_q5.c). Their
//         batches run through the panel GEMM (ck_block32_gemm.c), which reads these groups.
// Several matrices with the same input (Q, K, V; gate, up) can be stacked into one packed
// matrix so a decode step runs them as one pool job. The products: ck_packed_matmul.c.
#include "ck_packed_internal.h"

#include <stdlib.h>
#include <string.h>

int ck_packed_type_supported(int type) {
    return type == CK_Q4_0 || type == CK_Q4_1 || type == CK_Q8_0 || type == CK_Q5_0 || type == CK_Q5_1 || type == CK_IQ4_NL ||
           ck__is_kquant(type);
}

int ck__packed_uses_panel(int type) { return type == CK_Q5_0 || type == CK_Q5_1 || type == CK_IQ4_NL; }

static int has_min(int type) { return type == CK_Q4_1 || type == CK_Q5_1; }
static int has_fifth_bits(int type) { return type == CK_Q5_0 || type == CK_Q5_1; }

/// One GGUF block's fields, whatever its type: f16 scale (and min), the 16 nibble bytes (element
/// j in byte j's low nibble, j + 16 in its high one) and the fifth bits; Q8_0's 32 quants.
typedef struct {
    uint16_t *d, *m;
    uint8_t *nib, *qh;
    int8_t *q8;
} block_fields;

static block_fields fields_of(int type, void *row, int64_t b) {
    block_fields f = { 0 };
    switch (type) {
    case CK_Q8_0: { ck_block_q8_0 *x = (ck_block_q8_0 *)row + b; f.d = &x->d; f.q8 = x->qs; break; }
    case CK_Q4_0: { ck_block_q4_0 *x = (ck_block_q4_0 *)row + b; f.d = &x->d; f.nib = x->qs; break; }
    case CK_Q4_1: { ck_block_q4_1 *x = (ck_block_q4_1 *)row + b; f.d = &x->d; f.m = &x->m; f.nib = x->qs; break; }
    case CK_Q5_0: { ck_block_q5_0 *x = (ck_block_q5_0 *)row + b; f.d = &x->d; f.nib = x->qs; f.qh = x->qh; break; }
    case CK_Q5_1: { ck_block_q5_1 *x = (ck_block_q5_1 *)row + b; f.d = &x->d; f.m = &x->m; f.nib = x->qs; f.qh = x->qh; break; }
    default: { ck_block_iq4_nl *x = (ck_block_iq4_nl *)row + b; f.d = &x->d; f.nib = x->qs; break; } // IQ4_NL
    }
    return f;
}

/// Where row r's parts of block b live in its group.
typedef struct {
    uint16_t *d, *m;
    uint8_t *chunk; // nibbles: the 32-byte chunk shared with the row's pair (shift 4 * (r % 2))
    uint8_t *high;  // fifth bits: 16 bytes shared by the four rows
    int8_t *q8;
} group_slots;

static group_slots slots_of(const ck_packed *p, uint8_t *group, int64_t b, int r) {
    group_slots s = { 0 };
    uint16_t *d = (uint16_t *)group;
    s.d = d + b * CK_GROUP + r;
    if (has_min(p->type)) s.m = d + p->nb * CK_GROUP + b * CK_GROUP + r;
    uint8_t *qs = group + p->scale_bytes;
    if (p->type == CK_Q8_0) {
        s.q8 = (int8_t *)qs + (size_t)b * 128 + (size_t)r * 32;
    } else {
        s.chunk = qs + (size_t)b * 64 + (size_t)(r / 2) * 32;
        if (has_fifth_bits(p->type)) s.high = group + p->high_offset + (size_t)b * 16;
    }
    return s;
}

/// K-quants: each group holds block b of its four rows one after another, the blocks as they
/// are (ck_kquant_matmul.c reads them at these strides).
static ck_packed *pack_kquant(ck_packed *p, const void *const *parts) {
    const size_t bb = ck_row_size(p->type, CK_QK_K), row_bytes = ck_row_size(p->type, p->cols);
    p->nb = p->cols / CK_QK_K;
    p->group_bytes = CK_GROUP * row_bytes;
    p->data = ck_weights_alloc(p->group_bytes * (size_t)p->groups);
    if (!p->data) {
        free(p);
        return NULL;
    }
    int64_t g = 0;
    for (int part = 0; part < p->n_parts; part++) {
        for (int64_t pg = 0; pg < p->part_rows[part] / CK_GROUP; pg++, g++) {
            uint8_t *group = p->data + (size_t)g * p->group_bytes;
            for (int r = 0; r < CK_GROUP; r++) {
                const uint8_t *src = (const uint8_t *)parts[part] + (size_t)(pg * CK_GROUP + r) * row_bytes;
                for (int64_t b = 0; b < p->nb; b++) memcpy(group + (size_t)(b * CK_GROUP + r) * bb, src + (size_t)b * bb, bb);
            }
        }
    }
    return p;
}

ck_packed *ck_pack_weights(int type, int n_parts, const void *const *parts, const int64_t *part_rows, int64_t cols) {
    if (!ck_packed_type_supported(type) || cols <= 0 || cols % ck_type_block_elements(type) != 0 || n_parts <= 0) return NULL;
    if (ck__is_kquant(type) && n_parts > CK_MATMUL_MAX_PARTS) return NULL;
    int64_t rows = 0;
    for (int i = 0; i < n_parts; i++) {
        if (part_rows[i] <= 0 || part_rows[i] % CK_GROUP != 0 || !parts[i]) return NULL;
        rows += part_rows[i];
    }
    ck_packed *p = calloc(1, sizeof(ck_packed));
    if (!p) return NULL;
    p->type = type;
    p->rows = rows;
    p->cols = cols;
    p->groups = rows / CK_GROUP;
    p->n_parts = n_parts < CK_MATMUL_MAX_PARTS ? n_parts : CK_MATMUL_MAX_PARTS;
    for (int i = 0; i < p->n_parts; i++) p->part_rows[i] = part_rows[i];
    if (ck__is_kquant(type)) return pack_kquant(p, parts);
    p->nb = cols / CK_QK;
    p->groups = rows / CK_GROUP;
    const size_t per_scale = (size_t)p->nb * CK_GROUP * 2;
    p->scale_bytes = ck__round_up(has_min(type) ? 2 * per_scale : per_scale, 32);
    const size_t quant_bytes = (size_t)p->nb * CK_GROUP * (type == CK_Q8_0 ? 32 : 16);
    p->high_offset = has_fifth_bits(type) ? p->scale_bytes + quant_bytes : 0;
    const size_t high_bytes = has_fifth_bits(type) ? (size_t)p->nb * 16 : 0;
    p->group_bytes = ck__round_up(p->scale_bytes + quant_bytes + high_bytes, 64);
    p->data = ck_weights_alloc(p->group_bytes * (size_t)p->groups);
    if (!p->data) {
        free(p);
        return NULL;
    }
    memset(p->data, 0, p->group_bytes * (size_t)p->groups);
    const size_t row_bytes = ck_row_size(type, cols);
    int64_t g = 0;
    for (int part = 0; part < n_parts; part++) {
        for (int64_t pg = 0; pg < part_rows[part] / CK_GROUP; pg++, g++) {
            uint8_t *group = p->data + (size_t)g * p->group_bytes;
            for (int r = 0; r < CK_GROUP; r++) {
                void *src = (uint8_t *)parts[part] + (size_t)(pg * CK_GROUP + r) * row_bytes;
                for (int64_t b = 0; b < p->nb; b++) {
                    const block_fields x = fields_of(type, src, b);
                    const group_slots s = slots_of(p, group, b, r);
                    *s.d = *x.d;
                    if (s.m) *s.m = *x.m;
                    if (s.q8) {
                        memcpy(s.q8, x.q8, 32);
                        continue;
                    }
                    const int shift = (r % 2) * 4;
                    for (int k = 0; k < CK_QK / 2; k++) {
                        s.chunk[k] |= (uint8_t)((x.nib[k] & 0x0f) << shift);
                        s.chunk[k + CK_QK / 2] |= (uint8_t)((x.nib[k] >> 4) << shift);
                    }
                    if (s.high) {
                        // Byte k: bit r = row r's fifth bit of element k, bit 4 + r that of element k + 16.
                        uint32_t qh;
                        memcpy(&qh, x.qh, 4);
                        for (int k = 0; k < CK_QK / 2; k++) {
                            s.high[k] |= (uint8_t)((((qh >> k) & 1) << r) | (((qh >> (k + 16)) & 1) << (4 + r)));
                        }
                    }
                }
            }
        }
    }
    return p;
}

void ck_packed_free(ck_packed *p) {
    if (!p) return;
    ck_weights_free(p->data, p->group_bytes * (size_t)p->groups);
    free(p);
}

int64_t ck_packed_rows(const ck_packed *p) { return p ? p->rows : 0; }
size_t ck_packed_bytes(const ck_packed *p) { return p ? p->group_bytes * (size_t)p->groups : 0; }

void ck_packed_row(const ck_packed *p, int64_t row, void *out) {
    const int64_t g = row / CK_GROUP;
    const int r = (int)(row % CK_GROUP);
    uint8_t *group = p->data + (size_t)g * p->group_bytes;
    if (ck__is_kquant(p->type)) {
        const size_t bb = ck_row_size(p->type, CK_QK_K);
        for (int64_t b = 0; b < p->nb; b++) memcpy((uint8_t *)out + (size_t)b * bb, group + (size_t)(b * CK_GROUP + r) * bb, bb);
        return;
    }
    for (int64_t b = 0; b < p->nb; b++) {
        const block_fields x = fields_of(p->type, out, b);
        const group_slots s = slots_of(p, group, b, r);
        *x.d = *s.d;
        if (x.m) *x.m = *s.m;
        if (x.q8) {
            memcpy(x.q8, s.q8, 32);
            continue;
        }
        const int shift = (r % 2) * 4;
        for (int k = 0; k < CK_QK / 2; k++) {
            x.nib[k] = (uint8_t)(((s.chunk[k] >> shift) & 0x0f) | (((s.chunk[k + CK_QK / 2] >> shift) & 0x0f) << 4));
        }
        if (x.qh) {
            uint32_t qh = 0;
            for (int k = 0; k < CK_QK / 2; k++) {
                qh |= (uint32_t)((s.high[k] >> r) & 1) << k;
                qh |= (uint32_t)((s.high[k] >> (4 + r)) & 1) << (k + 16);
            }
            memcpy(x.qh, &qh, 4);
        }
    }
}
