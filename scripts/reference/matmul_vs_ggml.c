// CKernels' matrix products against llama.cpp's, through ggml's own graph on its CPU backend:
// the weight lives where llama.cpp's loader puts it (the repacking "extra" buffer when that
// buffer takes the type and shape, else the plain CPU buffer), so the product runs whichever
// path llama.cpp runs on this machine for that type and batch size (repacked gemm/gemv, the
// tiled K-quant kernel, llamafile's tinyBLAS or vec_dot), threads included. For each type,
// shape and batch size every output must be the same float, bit for bit.
// A developer check of the reference build, not part of CI:
//   scripts/reference/check_matmul_vs_ggml.sh [LLAMA_DIR]   (builds this file with CKernels)
// CK_FORCE_SCALAR=1 checks the scalar references the same way.
// Prints one line per (type, shape) with the batch sizes that differ, and for information
// whether llama.cpp itself gives a token other bits in a batch than alone.
#include <ggml.h>
#include <ggml-alloc.h>
#include <ggml-backend.h>
#include <ggml-cpu.h>

#include "ckernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t state = 88172645463325252ULL;
static uint64_t next(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state; }
static float uniform(void) { return (float)((double)(next() % 2000001) / 1e6 - 1.0); }
/// Roughly Gaussian, with a few large values as activations have.
static float sample(void) {
    float v = uniform() + uniform() + uniform();
    if (next() % 97 == 0) v *= 12.0f;
    return v;
}

static ggml_backend_buffer_type_t extra_buft;
static ggml_backend_t backend;

/// ggml_mul_mat(W, x) set up as llama.cpp's loader and graph would: weights in the repacking
/// buffer when it takes them, activations and result in the CPU buffer.
typedef struct {
    struct ggml_context *wctx, *ctx;
    struct ggml_tensor *W, *X, *Y;
    struct ggml_cgraph *graph;
    ggml_backend_buffer_t wbuf, buf;
} product;

static product product_setup(int type, const void *w, int64_t rows, int64_t cols, int64_t n_tok) {
    product p = { 0 };
    struct ggml_init_params ip = { .mem_size = 4 * ggml_tensor_overhead() + ggml_graph_overhead(), .no_alloc = true };
    p.ctx = ggml_init(ip);
    p.X = ggml_new_tensor_2d(p.ctx, GGML_TYPE_F32, cols, n_tok);
    ggml_backend_dev_t dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    for (int attempt = 0; attempt < 2 && !p.wbuf; attempt++) {
        if (p.wctx) ggml_free(p.wctx);
        p.wctx = ggml_init(ip);
        p.W = ggml_new_tensor_2d(p.wctx, (enum ggml_type)type, cols, rows);
        p.Y = ggml_mul_mat(p.ctx, p.W, p.X);
        if (attempt == 0) {
            // The extra (repacking) buffer when it supports this product, as llama.cpp's loader picks it.
            if (!extra_buft) continue;
            p.wbuf = ggml_backend_alloc_ctx_tensors_from_buft(p.wctx, extra_buft);
            if (p.wbuf && !ggml_backend_dev_supports_op(dev, p.Y)) {
                ggml_backend_buffer_free(p.wbuf);
                p.wbuf = NULL;
            }
        } else {
            p.wbuf = ggml_backend_alloc_ctx_tensors_from_buft(p.wctx, ggml_backend_cpu_buffer_type());
        }
    }
    ggml_backend_tensor_set(p.W, w, 0, ggml_nbytes(p.W));
    p.graph = ggml_new_graph(p.ctx);
    ggml_build_forward_expand(p.graph, p.Y);
    p.buf = ggml_backend_alloc_ctx_tensors_from_buft(p.ctx, ggml_backend_cpu_buffer_type());
    return p;
}

static void product_run(product *p, const float *x, float *y) {
    ggml_backend_tensor_set(p->X, x, 0, ggml_nbytes(p->X));
    ggml_backend_graph_compute(backend, p->graph);
    ggml_backend_tensor_get(p->Y, y, 0, ggml_nbytes(p->Y));
}

static void product_free(product *p) {
    ggml_backend_buffer_free(p->buf);
    ggml_backend_buffer_free(p->wbuf);
    ggml_free(p->ctx);
    ggml_free(p->wctx);
}

/// y (n_tok x rows) = ggml_mul_mat(W, x) as llama.cpp computes it with 2 threads.
static void ggml_product(int type, const void *w, int64_t rows, int64_t cols, const float *x, int64_t n_tok, float *y) {
    product p = product_setup(type, w, rows, cols, n_tok);
    product_run(&p, x, y);
    product_free(&p);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/// --time TYPE ROWS COLS N: seconds per product, ggml's (graph setup included, a small share
/// at these sizes) and ours, best of 7, for a quick look at the batch kernels' speed.
static int time_one(ck_pool *pool, int type, int64_t rows, int64_t cols, int64_t n) {
    float *wf = malloc(sizeof(float) * rows * cols), *x = malloc(sizeof(float) * n * cols), *y = malloc(sizeof(float) * n * rows);
    for (int64_t i = 0; i < rows * cols; i++) wf[i] = sample() * 0.02f;
    for (int64_t i = 0; i < n * cols; i++) x[i] = sample();
    void *w = malloc(ggml_row_size(type, cols) * rows);
    ggml_quantize_chunk(type, wf, w, 0, rows, cols, NULL);
    double best_g = 1e9, best_o = 1e9;
    product p = product_setup(type, w, rows, cols, n);
    for (int k = 0; k < 7; k++) {
        double t0 = now();
        product_run(&p, x, y);
        double t1 = now();
        ck_matmul(pool, type, w, rows, cols, x, n, y);
        double t2 = now();
        if (t1 - t0 < best_g) best_g = t1 - t0;
        if (t2 - t1 < best_o) best_o = t2 - t1;
    }
    product_free(&p);
    printf("%s %lldx%lld n=%lld: llama.cpp %.3f ms, ours %.3f ms (ours/theirs time %.2f)\n", ggml_type_name(type),
           (long long)rows, (long long)cols, (long long)n, best_g * 1e3, best_o * 1e3, best_o / best_g);
    free(wf); free(x); free(y); free(w);
    return 0;
}

static int is_repacked(int type, int64_t rows) {
    (void)rows;
    return type == GGML_TYPE_Q4_0 || type == GGML_TYPE_Q4_K || type == GGML_TYPE_IQ4_NL || type == GGML_TYPE_Q2_K;
}

static void quiet(enum ggml_log_level level, const char *text, void *user) { (void)level; (void)text; (void)user; }

int main(int argc, char **argv) {
    ggml_log_set(quiet, NULL);
    ggml_backend_load_all();
    backend = ggml_backend_cpu_init();
    ggml_backend_cpu_set_n_threads(backend, 2);
    ggml_backend_dev_t dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
    ggml_backend_dev_get_extra_bufts_t get_extra =
        (ggml_backend_dev_get_extra_bufts_t)ggml_backend_reg_get_proc_address(reg, "ggml_backend_dev_get_extra_bufts");
    if (get_extra) {
        for (ggml_backend_buffer_type_t *b = get_extra(dev); b && *b; b++) {
            if (strcmp(ggml_backend_buft_name(*b), "CPU_REPACK") == 0) extra_buft = *b;
        }
    }
    printf("extra buffer: %s\n", extra_buft ? ggml_backend_buft_name(extra_buft) : "none");
    ck_pool *pool = ck_pool_create(2);
    // CK_FORCE_SCALAR=1: the scalar references instead of the AVX2 kernels (the same bits).
    if (getenv("CK_FORCE_SCALAR") && atoi(getenv("CK_FORCE_SCALAR")) != 0) ck_set_force_scalar(1);

    static const int types[] = { GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_Q3_K, GGML_TYPE_Q2_K,
                                 GGML_TYPE_IQ4_XS, GGML_TYPE_IQ4_NL, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0,
                                 GGML_TYPE_Q4_0, GGML_TYPE_Q4_1 };
    static const int64_t shapes[][2] = { { 576, 1536 }, { 640, 2048 }, { 640, 1024 }, { 256, 512 } }; // rows, cols
    static const int64_t batches[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 24, 31, 33, 64 };
    if (argc > 5 && strcmp(argv[1], "--time") == 0) {
        for (int t = 0; t < GGML_TYPE_COUNT; t++) {
            if (strcmp(ggml_type_name(t), argv[2]) == 0) return time_one(pool, t, atoll(argv[3]), atoll(argv[4]), atoll(argv[5]));
        }
        return 2;
    }
    const char *only = argc > 1 ? argv[1] : NULL;
    int failures = 0;
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        const int type = types[ti];
        if (only && strcmp(only, ggml_type_name(type)) != 0) continue;
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
            const int64_t rows = shapes[si][0], cols = shapes[si][1];
            if (cols % ggml_blck_size(type) != 0) continue;
            float *wf = malloc(sizeof(float) * rows * cols);
            for (int64_t i = 0; i < rows * cols; i++) wf[i] = sample() * 0.02f;
            const size_t wbytes = ggml_row_size(type, cols) * rows;
            void *w = malloc(wbytes);
            ggml_quantize_chunk(type, wf, w, 0, rows, cols, NULL);
            const int64_t max_tok = 64;
            float *x = malloc(sizeof(float) * max_tok * cols);
            for (int64_t i = 0; i < max_tok * cols; i++) x[i] = sample();
            float *solo = malloc(sizeof(float) * max_tok * rows);
            for (int64_t t = 0; t < max_tok; t++) ggml_product(type, w, rows, cols, x + t * cols, 1, solo + t * rows);
            float *theirs = malloc(sizeof(float) * max_tok * rows), *ours = malloc(sizeof(float) * max_tok * rows);
            char diff_list[512] = "", self_list[512] = "";
            double worst = 0;
            for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++) {
                const int64_t n = batches[bi];
                ggml_product(type, w, rows, cols, x, n, theirs);
                ck_matmul(pool, type, w, rows, cols, x, n, ours);
                int64_t differ = 0, self = 0;
                for (int64_t i = 0; i < n * rows; i++) {
                    if (memcmp(&ours[i], &theirs[i], 4) != 0) {
                        differ++;
                        const double d = fabs((double)ours[i] - theirs[i]);
                        if (d > worst) worst = d;
                    }
                    if (memcmp(&solo[i], &theirs[i], 4) != 0) self++;
                }
                char item[32];
                if (differ) {
                    snprintf(item, sizeof item, " %lld(%lld)", (long long)n, (long long)differ);
                    strncat(diff_list, item, sizeof diff_list - strlen(diff_list) - 1);
                    failures++;
                }
                if (self) {
                    snprintf(item, sizeof item, " %lld", (long long)n);
                    strncat(self_list, item, sizeof self_list - strlen(self_list) - 1);
                }
            }
            printf("%-7s %4lldx%-5lld %s ours differ at n =%s%s (max %.3g); llama.cpp batch != solo at n =%s\n",
                   ggml_type_name(type), (long long)rows, (long long)cols, is_repacked(type, rows) ? "repacked" : "plain   ",
                   diff_list[0] ? diff_list : " none", "", worst, self_list[0] ? self_list : " none");
            free(wf); free(w); free(x); free(solo); free(theirs); free(ours);
        }
    }
    ck_pool_destroy(pool);
    printf(failures ? "DIFFERENCES\n" : "all equal\n");
    return failures ? 1 : 0;
}
