// CKernels: the numeric core of plumise-petals.
//
// Layouts and arithmetic follow ggml (llama.cpp) so that a GGUF model gives the same results
// here as there: quantized blocks of 32 weights, activations quantized to 8 bits once per row
// for integer dot products (Q8_0 for Q4_0/Q8_0 weights, Q8_1 for Q4_1 weights, F16 for F16
// weights), sums of squares and softmax denominators in double.
//
// Every SIMD kernel has a scalar reference twin; ck_set_force_scalar(1) routes the dispatcher
// to the references so tests can compare the two. SIMD variants are compiled per function
// with target attributes and chosen at run time, so the library stays correct on CPUs
// without AVX2.
#ifndef CKERNELS_H
#define CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "ck_keccak.h"

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - Types

/// Element types; values equal ggml's (and pp_dtype's).
enum {
    CK_F32 = 0,
    CK_F16 = 1,
    CK_Q4_0 = 2,
    CK_Q4_1 = 3,
    CK_Q5_0 = 6,
    CK_Q5_1 = 7,
    CK_Q8_0 = 8,
    CK_Q8_1 = 9,
    CK_Q2_K = 10,
    CK_Q3_K = 11,
    CK_Q4_K = 12,
    CK_Q5_K = 13,
    CK_Q6_K = 14,
    CK_Q8_K = 15,
    CK_IQ4_NL = 20,
    CK_IQ4_XS = 23,
    CK_BF16 = 30,
};

#define CK_QK 32 /* weights per quantized block */

typedef struct { uint16_t d; uint8_t qs[CK_QK / 2]; } ck_block_q4_0;             /* 18 bytes */
typedef struct { uint16_t d; uint16_t m; uint8_t qs[CK_QK / 2]; } ck_block_q4_1; /* 20 bytes */
typedef struct { uint16_t d; int8_t qs[CK_QK]; } ck_block_q8_0;                  /* 34 bytes */
typedef struct { uint16_t d; uint16_t s; int8_t qs[CK_QK]; } ck_block_q8_1;      /* 36 bytes; s = d * sum(qs) */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[CK_QK / 2]; } ck_block_q5_0; /* 22 bytes; 5th bits in qh */
typedef struct { uint16_t d; uint16_t m; uint8_t qh[4]; uint8_t qs[CK_QK / 2]; } ck_block_q5_1; /* 24 bytes */
typedef struct { uint16_t d; uint8_t qs[CK_QK / 2]; } ck_block_iq4_nl;                            /* 18 bytes; table indices */

#define CK_QK_K 256 /* weights per K-quant super-block */

/// K-quants (ggml's layouts; each type's file in CKernels/src describes its packing).
typedef struct { uint8_t scales[CK_QK_K / 16]; uint8_t qs[CK_QK_K / 4]; uint16_t d; uint16_t dmin; } ck_block_q2_K; /* 84 bytes */
typedef struct { uint8_t hmask[CK_QK_K / 8]; uint8_t qs[CK_QK_K / 4]; uint8_t scales[12]; uint16_t d; } ck_block_q3_K; /* 110 bytes */
typedef struct { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qs[CK_QK_K / 2]; } ck_block_q4_K; /* 144 bytes */
typedef struct { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qh[CK_QK_K / 8]; uint8_t qs[CK_QK_K / 2]; } ck_block_q5_K; /* 176 bytes */
typedef struct { uint8_t ql[CK_QK_K / 2]; uint8_t qh[CK_QK_K / 4]; int8_t scales[CK_QK_K / 16]; uint16_t d; } ck_block_q6_K; /* 210 bytes */
typedef struct { uint16_t d; uint16_t scales_h; uint8_t scales_l[CK_QK_K / 64]; uint8_t qs[CK_QK_K / 2]; } ck_block_iq4_xs; /* 136 bytes */
/// K-quant activations: f32 scale, 256 quants, the sums of each 16 quants.
typedef struct { float d; int8_t qs[CK_QK_K]; int16_t bsums[CK_QK_K / 16]; } ck_block_q8_K; /* 292 bytes */

/// Bytes taken by a row of n elements of `type` (n must be a multiple of the type's block:
/// CK_QK, or CK_QK_K for K-quants); 0 for an unsupported type.
size_t ck_row_size(int type, int64_t n);
/// 1 when `type` is one the kernels can multiply with.
int ck_type_supported(int type);
const char *ck_type_name(int type);
/// Weights per block of `type` (1 for F32/F16/BF16), 0 for an unsupported type.
int64_t ck_type_block_elements(int type);

// MARK: - CPU features and dispatch

int ck_cpu_has_avx2_fma_f16c(void);
/// AVX-512 F/BW/DQ: llama.cpp's x86 build then takes other kernels (Q2_K repacking) and sums
/// its vector ops in 16 lanes, so fixtures recorded on an AVX2-only machine hold exactly only there.
int ck_cpu_has_avx512(void);
/// AVX-512 F/BW/DQ/VL with VNNI (vpdpbusd): the packed Q4_1 / Q8_0 batch tiles then take
/// ck_packed_vnni.c's kernels, bit-identical to the AVX2 ones.
int ck_cpu_has_avx512_vnni(void);
/// Testing hook: 1 routes every dispatched kernel to its scalar reference.
void ck_set_force_scalar(int on);
/// Testing and benchmarking hook: 1 keeps the dispatcher to the AVX2 kernels on a CPU with
/// AVX-512 VNNI (as does the environment variable PLUMISE_SIMD=avx2, read once).
void ck_set_avx2_only(int on);

// MARK: - Half precision

float ck_fp16_to_fp32(uint16_t h);
uint16_t ck_fp32_to_fp16(float f); /* round to nearest even */
float ck_bf16_to_fp32(uint16_t h);
void ck_fp16_to_fp32_row(const uint16_t *src, float *dst, int64_t n);
void ck_fp32_to_fp16_row(const float *src, uint16_t *dst, int64_t n);

// MARK: - Quantization

/// Dequantizes n elements of `type` (every type ck_type_supported accepts, and Q8_1/Q8_K) into dst.
void ck_dequantize_row(int type, const void *src, float *dst, int64_t n);
/// Quantizers as in ggml's reference implementations (used for activations and tests).
void ck_quantize_row_q4_0(const float *x, ck_block_q4_0 *y, int64_t n);
void ck_quantize_row_q4_1(const float *x, ck_block_q4_1 *y, int64_t n);
void ck_quantize_row_q8_0(const float *x, ck_block_q8_0 *y, int64_t n);
void ck_quantize_row_q8_1(const float *x, ck_block_q8_1 *y, int64_t n);
/// Activations for K-quant weights, as llama.cpp's x86 build makes them (quantize_row_q8_K_ref).
void ck_quantize_row_q8_K(const float *x, ck_block_q8_K *y, int64_t n);

/// The format activations are converted to before a dot product with weights of `type`:
/// CK_Q8_0 for Q4_0, Q5_0 and Q8_0, CK_Q8_1 for Q4_1, CK_Q8_K for K-quants, CK_F16 for F16,
/// CK_F32 for F32 and BF16.
int ck_activation_type(int weight_type);
/// Converts an f32 activation row into ck_activation_type(weight_type); dst holds
/// ck_row_size(ck_activation_type(weight_type), n) bytes.
void ck_prepare_activation(int weight_type, const float *x, void *dst, int64_t n);

/// Dot product of one weight row of `type` with an activation row already in
/// ck_activation_type(type). Dispatched (SIMD when available).
float ck_vec_dot(int type, int64_t n, const void *w_row, const void *act_row);
/// The scalar reference of ck_vec_dot.
float ck_vec_dot_ref(int type, int64_t n, const void *w_row, const void *act_row);

// MARK: - Thread pool

typedef struct ck_pool ck_pool;

/// A persistent pool of n_threads workers (the caller's thread counts as one; n_threads <= 0
/// means the number of online CPUs). Workers sleep between jobs: no thread is created per call.
ck_pool *ck_pool_create(int n_threads);
void ck_pool_destroy(ck_pool *pool);
int ck_pool_threads(const ck_pool *pool);
/// Tells idle workers to sleep now instead of spinning for the next job: call before waiting
/// on something slow (the network), so spinning threads do not steal the CPU from other
/// processes of the swarm on the same machine. The next ck_pool_run wakes them.
void ck_pool_park(ck_pool *pool);

typedef void (*ck_range_fn)(void *ctx, int64_t begin, int64_t end, int thread_index);
/// Splits [0, n) into chunks of at least `grain` items across the pool and waits for all.
/// A pool runs one job at a time; calls from several threads are serialised.
void ck_pool_run(ck_pool *pool, int64_t n, int64_t grain, ck_range_fn fn, void *ctx);

// MARK: - Matrix products

/// Y[t][r] = dot(W[r], X[t]) for t < n_tok, r < rows. W is rows x cols of `type` (row-major,
/// rows of ck_row_size(type, cols) bytes); X is n_tok x cols f32; Y is n_tok x rows f32.
/// Activations are prepared once per row of X. Single tokens use the dot kernels (quantized:
/// integer dots, llama.cpp's order), parallel over output rows; F16/F32 batches use a
/// register-blocked GEMM (one FMA chain per output: within rounding of the dots, independent
/// of the thread count and of the other tokens); without AVX2, F32 uses OpenBLAS. Scratch
/// memory is owned by the pool and reused across calls.
void ck_matmul(ck_pool *pool, int type, const void *W, int64_t rows, int64_t cols,
               const float *X, int64_t n_tok, float *Y);

enum { CK_MATMUL_MAX_PARTS = 4 };
/// Several matrices with the same input (Q, K, V; gate, up) in one call: Y[i][t][r] =
/// dot(W[i][r], X[t]) for r < rows[i] (n_parts <= CK_MATMUL_MAX_PARTS). The activations are
/// prepared once and one pool job covers every part's rows. Each part's outputs equal
/// ck_matmul's on that part alone.
void ck_matmul_parts(ck_pool *pool, int type, int n_parts, const void *const *W, const int64_t *rows, int64_t cols,
                     const float *X, int64_t n_tok, float *const *Y);

/// ck_matmul_parts for a batch holding several sequences' tokens: the first seg_len[0] tokens of
/// X belong to one sequence, the next seg_len[1] to another, and so on. K-quant weights (Q2_K ...
/// Q6_K, IQ4_XS) sum each token in the order llama.cpp's CPU backend gives a batch of its
/// sequence's length (its repacked gemm/gemv or tiled kernel, see ck_kquant_matmul.c), so a
/// token's result equals that of its sequence run alone, whatever else shares the batch;
/// ck_matmul and ck_matmul_parts treat all n_tok tokens as one sequence. Other types' results
/// never depend on the batch, and this is ck_matmul_parts for them.
void ck_matmul_parts_seq(ck_pool *pool, int type, int n_parts, const void *const *W, const int64_t *rows, int64_t cols,
                         const float *X, int64_t n_tok, int n_seg, const int64_t *seg_len, float *const *Y);

// MARK: - Weight memory

/// Memory for weights streamed on every token, 64-byte aligned: on Linux carved out of large
/// regions advised as transparent huge pages (fewer TLB misses; the prefetchers are not stopped
/// at every 4 KB boundary). Free with ck_weights_free. NULL when out of memory.
void *ck_weights_alloc(size_t bytes);
void ck_weights_free(void *p, size_t bytes);
/// ck_weights_alloc(bytes) holding a copy of src[0, bytes).
void *ck_weights_copy(const void *src, size_t bytes);
/// Once a copy has replaced [src, src + bytes): if the range lies in a private, read-only
/// mapping of a file (checked in /proc/self/maps), drops this process's pages of it so resident
/// memory does not count the weights twice (a later read faults them in again). Any other
/// memory is left alone. Linux only; a no-op elsewhere.
void ck_release_mapped_pages(const void *src, size_t bytes);

// MARK: - Repacked quantized weights

/// Quantized weights (Q4_0, Q4_1, Q8_0, Q5_0, Q5_1, IQ4_NL, and the K-quants Q2_K ... Q6_K and
/// IQ4_XS) repacked at load into groups of four interleaved rows for the GEMV/GEMM; every
/// output is computed in exactly ck_matmul's order on the original rows (ck_matmul_parts_seq's
/// for the K-quants), so results are bit-identical to it.
typedef struct ck_packed ck_packed;

/// 1 when ck_pack_weights accepts `type`.
int ck_packed_type_supported(int type);
/// Packs n_parts matrices with the same column count stacked on top of each other (rows of
/// part 0 first), e.g. Q, K and V, so one ck_matmul_packed computes them all. Each part has
/// part_rows[i] rows of ck_row_size(type, cols) bytes. Returns NULL when the type is not
/// supported, cols is not a multiple of its block, a part's row count is not a multiple of 4,
/// or a K-quant matrix has more than CK_MATMUL_MAX_PARTS parts.
/// The packed copy owns its memory; the source can be released afterwards.
ck_packed *ck_pack_weights(int type, int n_parts, const void *const *parts, const int64_t *part_rows, int64_t cols);
void ck_packed_free(ck_packed *p);
/// Total rows (the sum of the parts').
int64_t ck_packed_rows(const ck_packed *p);
/// Bytes of packed weights.
size_t ck_packed_bytes(const ck_packed *p);
/// Row `row` rebuilt in the original GGUF block layout (ck_row_size(type, cols) bytes).
void ck_packed_row(const ck_packed *p, int64_t row, void *out);
/// Y[t][r] = dot(W[r], X[t]) for every row of the stacked parts (Y is n_tok x ck_packed_rows).
void ck_matmul_packed(ck_pool *pool, const ck_packed *p, const float *X, int64_t n_tok, float *Y);
/// ck_matmul_packed for a batch of several sequences (seg_len as in ck_matmul_parts_seq): each
/// K-quant part sums each token in the order its own sequence alone would get; for the other
/// types this is ck_matmul_packed.
void ck_matmul_packed_seq(ck_pool *pool, const ck_packed *p, const float *X, int64_t n_tok, int n_seg, const int64_t *seg_len,
                          float *Y);
/// ck_matmul_packed_seq with each stacked part's rows in its own matrix Y[k] (n_tok x part_rows[k]),
/// for the types whose group kernels write every output directly (Q4_0, Q4_1, Q8_0; Q5_0, Q5_1
/// and IQ4_NL for one token), parts of whole four-row groups. 0, and nothing written, otherwise.
int ck_matmul_packed_parts_seq(ck_pool *pool, const ck_packed *p, const float *X, int64_t n_tok, int n_seg, const int64_t *seg_len,
                               float *const *Y);

// MARK: - Element-wise and normalisation (n = row length)

/// out = x / sqrt(mean(x^2) + eps) * weight (weight may be NULL). out may alias x.
void ck_rmsnorm(float *out, const float *x, const float *weight, int64_t n, float eps);
/// out = (x - mean) / sqrt(var + eps) * weight + bias (weight/bias may be NULL). out may alias x.
void ck_layernorm(float *out, const float *x, const float *weight, const float *bias,
                  int64_t n, float eps);
/// In-place softmax of n values (denominator accumulated in double).
void ck_softmax(float *x, int64_t n);
/// The index a scan keeping the first strictly larger value picks (best = 0; x[i] > x[best]):
/// the first maximum; NaNs are never picked unless x[0] is one (then 0). 0 for n <= 0.
int64_t ck_argmax(const float *x, int64_t n);
/// gate[i] = silu(gate[i]) * up[i]
void ck_silu_mul(float *gate, const float *up, int64_t n);
/// GELU, tanh approximation (as GPT-2's "gelu_new" and BLOOM's gelu), in place.
void ck_gelu(float *x, int64_t n);
/// GELU with erf (PyTorch's exact "gelu"), in place.
void ck_gelu_erf(float *x, int64_t n);
/// gate[i] = gelu(gate[i]) * up[i], gelu of the tanh form as ggml's CPU backend computes it
/// (looked up in an f16 table: x rounded to f16; exact for |x| >= 10) — Gemma's feed-forward.
void ck_geglu_f16_table(float *gate, const float *up, int64_t n);
/// The same split across the pool.
void ck_geglu_f16_table_pool(ck_pool *pool, float *gate, const float *up, int64_t n);
/// y[i] += x[i]
void ck_add(float *y, const float *x, int64_t n);

enum { CK_ROPE_NORMAL = 0, CK_ROPE_NEOX = 1 };
/// Rotary embedding in place over n_heads heads of head_dim values at position `pos`,
/// rotating the first rope_dims dims of each head. NORMAL rotates adjacent pairs
/// (x[2i], x[2i+1]) as llama.cpp does for GGUF llama; NEOX rotates (x[i], x[i + rope_dims/2]).
/// theta_i = pos * freq_base^(-2i/rope_dims), computed as ggml does (iterated float product).
void ck_rope(float *x, int64_t n_heads, int64_t head_dim, int64_t rope_dims, int64_t pos,
             float freq_base, int style);

// Batches: the same per-row arithmetic as above (bit for bit), rows split across the pool
// when there are enough of them (a single token runs on the calling thread).

/// ck_rmsnorm of each of n_rows rows of n values (row r: out + r * n, x + r * n).
void ck_rmsnorm_rows(ck_pool *pool, float *out, const float *x, const float *weight, int64_t n_rows, int64_t n, float eps);
/// ck_silu_mul and ck_add over n values.
void ck_silu_mul_pool(ck_pool *pool, float *gate, const float *up, int64_t n);
void ck_add_pool(ck_pool *pool, float *y, const float *x, int64_t n);
/// The sum of x[0, n) across the pool: a streaming read at the memory's pace, the ceiling
/// petals-bench sets the memory-bound kernels against.
double ck_sum_pool(ck_pool *pool, const float *x, int64_t n);
/// ck_rope of n_tok tokens at positions pos0, pos0 + 1, ... for q (n_tok rows of n_heads
/// heads) and k (n_tok rows of n_kv_heads heads), the angles computed once per token.
void ck_rope_rows(ck_pool *pool, float *q, float *k, int64_t n_tok, int64_t pos0, int64_t n_heads, int64_t n_kv_heads,
                  int64_t head_dim, int64_t rope_dims, float freq_base, int style);
/// ck_rope_rows with each row at its own position (positions[n_tok]): the rows of a batch's
/// sequences in one pool job.
void ck_rope_rows_at(ck_pool *pool, float *q, float *k, int64_t n_tok, const int64_t *positions, int64_t n_heads,
                     int64_t n_kv_heads, int64_t head_dim, int64_t rope_dims, float freq_base, int style);

/// ALiBi slopes for n_heads heads (BLOOM), written to slopes[n_heads].
void ck_alibi_slopes(int64_t n_heads, float *slopes);

// MARK: - Attention

/// Causal multi-head attention for n_tok new query tokens over a KV cache, GQA aware.
///   q:      n_tok x (n_head * head_dim) f32, already roped
///   k, v:   cache rows of n_head_kv * head_dim halfs (F16), row stride kv_stride halfs;
///           rows [0, pos0 + n_tok) are valid, the new tokens' rows included
///   out:    n_tok x (n_head * head_dim) f32
/// Query token t (at position pos0 + t) attends to cache rows [0, pos0 + t]. Scores are
/// scaled by `scale`; alibi_slopes (NULL unless BLOOM) adds slope_h * (j - i). As in llama.cpp
/// without flash attention, q is rounded to F16 for the q.k dot and the probabilities are
/// rounded to F16 before the weighted sum of v. Parallel over (token, head).
void ck_attention(ck_pool *pool, float *out, const float *q, int64_t n_tok, int64_t pos0,
                  const uint16_t *k, const uint16_t *v, int64_t kv_stride,
                  int64_t n_head, int64_t n_head_kv, int64_t head_dim, float scale,
                  const float *alibi_slopes);

/// ck_attention over an F32 cache (rows of kv_stride floats) with no rounding to F16 anywhere:
/// q.k dots, scores, probabilities and the weighted sum of values all in f32, as transformers
/// computes attention for float32 models. Same layout, causality, GQA and ALiBi as ck_attention.
void ck_attention_f32(ck_pool *pool, float *out, const float *q, int64_t n_tok, int64_t pos0,
                      const float *k, const float *v, int64_t kv_stride,
                      int64_t n_head, int64_t n_head_kv, int64_t head_dim, float scale,
                      const float *alibi_slopes);

/// One sequence of a paged attention call: n_tok query rows (q and out as in ck_attention) at
/// positions pos0 ... pos0 + n_tok - 1, over its own cache, held in pages of page_rows rows
/// (a power of two): cache row j is k_pages[j / page_rows] + (j % page_rows) * kv_stride
/// elements (F16 halfs or F32 floats), likewise for v_pages. The rows see cache positions
/// kv_first ... pos0 + t (0 for causal attention over everything; a sliding window's first
/// position otherwise), with the arithmetic of a call whose cache starts at kv_first.
typedef struct {
    float *out;
    const float *q;
    int64_t n_tok, pos0;
    const void *const *k_pages;
    const void *const *v_pages;
    int64_t kv_first;
} ck_attention_seq;

/// ck_attention for several sequences at once (a batch of a continuous-batching step): every
/// sequence's rows get exactly the arithmetic a ck_attention call for that sequence alone gives
/// them (single-token sequences share one pool job; longer ones run one after another).
void ck_attention_paged(ck_pool *pool, const ck_attention_seq *seqs, int64_t n_seq, int64_t page_rows,
                        int64_t kv_stride, int64_t n_head, int64_t n_head_kv, int64_t head_dim, float scale,
                        const float *alibi_slopes);
/// ck_attention_f32 for several sequences over paged F32 caches (as ck_attention_paged).
void ck_attention_paged_f32(ck_pool *pool, const ck_attention_seq *seqs, int64_t n_seq, int64_t page_rows,
                            int64_t kv_stride, int64_t n_head, int64_t n_head_kv, int64_t head_dim, float scale,
                            const float *alibi_slopes);

#ifdef __cplusplus
}
#endif

#endif
