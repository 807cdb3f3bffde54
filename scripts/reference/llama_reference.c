// Reference runs of llama.cpp on a GGUF model, for the fixtures the Swift tests compare with.
// Built and run by make_llama_fixtures.py against a llama.cpp build; never shipped.
//
//   llama_reference tokenize MODEL PARSE_SPECIAL            < text   → ids on one line
//   llama_reference greedy   MODEL N_NEW LOGITS_FILE K_STEPS < prompt
//       → "prompt: ids", "generated: ids", "eog: 0|1"; LOGITS_FILE gets float32 logits of the
//         last prompt token, then of each of the first K_STEPS decode steps. With ADD_SPECIAL=1 in
//         the environment the prompt is tokenized with add_special (BOS as the model asks).
#include <ggml.h>
#include <llama.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    *len = n;
    return buf;
}

// "dump" mode: the scheduler calls this for every node; f32 results whose names are listed in
// DUMP_NAMES (comma separated prefixes) are written to DUMP_DIR/<name>.bin.
static const char *dump_dir;
static const char *dump_names;
static bool dump_tensor(struct ggml_tensor *t, bool ask, void *user) {
    (void)user;
    if (t->type != GGML_TYPE_F32) return ask ? false : true;
    int wanted = 0;
    char list[1024];
    snprintf(list, sizeof list, "%s", dump_names);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        size_t n = strlen(tok);
        if (strncmp(t->name, tok, n) == 0 && (t->name[n] == '-' || t->name[n] == 0)) wanted = 1;
    }
    if (ask) return wanted;
    if (!wanted || !ggml_is_contiguous(t)) return true;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s.bin", dump_dir, t->name);
    FILE *f = fopen(path, "wb");
    if (f) { fwrite(t->data, 1, ggml_nbytes(t), f); fclose(f); }
    return true;
}

static void quiet_log(enum ggml_log_level level, const char *text, void *user) { (void)level; (void)text; (void)user; }

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: see source\n"); return 2; }
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(argv[2], mp);
    if (!model) { fprintf(stderr, "cannot load %s\n", argv[2]); return 1; }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);

    size_t len;
    char *text = read_stdin(&len);
    int cap = (int)len + 16;
    llama_token *tokens = malloc(sizeof(llama_token) * cap);

    if (strcmp(argv[1], "tokenize") == 0) {
        const int parse_special = argc > 3 && atoi(argv[3]) != 0;
        int n = llama_tokenize(vocab, text, (int)len, tokens, cap, false, parse_special);
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", tokens[i]);
        printf("\n");
        return n < 0;
    }

    if (strcmp(argv[1], "greedy") == 0 && argc >= 6) {
        const int n_new = atoi(argv[3]);
        const int k_steps = atoi(argv[5]);
        FILE *logits_out = fopen(argv[4], "wb");
        const bool add_special = getenv("ADD_SPECIAL") && atoi(getenv("ADD_SPECIAL")) != 0;
        int n = llama_tokenize(vocab, text, (int)len, tokens, cap, add_special, true);
        struct llama_context_params cp = llama_context_default_params();
        cp.n_ctx = 512;
        cp.n_batch = 512;
        cp.n_ubatch = 512;
        cp.n_threads = 2;
        cp.n_threads_batch = 2;
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
        if (getenv("DUMP_DIR")) {
            dump_dir = getenv("DUMP_DIR");
            dump_names = getenv("DUMP_NAMES") ? getenv("DUMP_NAMES") : "l_out";
            cp.cb_eval = dump_tensor;
            cp.cb_eval_user_data = NULL;
        }
        struct llama_context *ctx = llama_init_from_model(model, cp);
        const int n_vocab = llama_vocab_n_tokens(vocab);
        printf("prompt:");
        for (int i = 0; i < n; i++) printf(" %d", tokens[i]);
        printf("\ngenerated:");
        if (llama_decode(ctx, llama_batch_get_one(tokens, n)) != 0) { fprintf(stderr, "decode failed\n"); return 1; }
        int eog = 0;
        for (int step = 0; step < n_new; step++) {
            const float *logits = llama_get_logits_ith(ctx, -1);
            if (step <= k_steps) fwrite(logits, sizeof(float), (size_t)n_vocab, logits_out);
            llama_token best = 0;
            for (int v = 1; v < n_vocab; v++) if (logits[v] > logits[best]) best = v;
            if (llama_vocab_is_eog(vocab, best)) { eog = 1; break; }
            printf(" %d", best);
            if (llama_decode(ctx, llama_batch_get_one(&best, 1)) != 0) { fprintf(stderr, "decode failed\n"); return 1; }
        }
        printf("\neog: %d\n", eog);
        fclose(logits_out);
        llama_free(ctx);
        return 0;
    }
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
}
