// The plugin boundary of plumise-petals: a plain C ABI.
//
// A plugin is a shared library exporting one symbol, PP_PLUGIN_ENTRY_SYMBOL, of type
// pp_plugin_entry_fn. It returns a descriptor that lives as long as the library is loaded.
// Only C types cross this boundary: no Swift classes, protocols or generics, because host
// and plugin each carry their own copy of any Swift library they link (see
// docs/ARCHITECTURE.md).
//
// Versioning: the host refuses a descriptor whose abi_version differs from
// PP_PLUGIN_ABI_VERSION. Bump the version on any change to a struct below.
#ifndef PLUMISE_PLUGIN_H
#define PLUMISE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PP_PLUGIN_ABI_VERSION 1u
#define PP_PLUGIN_ENTRY_SYMBOL "plumise_plugin_entry"

/// Errors are reported through a caller-owned buffer: functions that can fail take
/// (char *err, size_t err_cap) and write a NUL-terminated message there on failure.
#define PP_ERROR_CAPACITY 1024

typedef enum pp_plugin_kind {
    PP_KIND_MODEL_FORMAT = 1,
    PP_KIND_TRANSPORT = 2,
} pp_plugin_kind;

/// Tensor element types. Values equal ggml's type ids so GGUF files map one to one.
typedef enum pp_dtype {
    PP_DTYPE_F32 = 0,
    PP_DTYPE_F16 = 1,
    PP_DTYPE_Q4_0 = 2,
    PP_DTYPE_Q4_1 = 3,
    PP_DTYPE_Q5_0 = 6,
    PP_DTYPE_Q5_1 = 7,
    PP_DTYPE_Q8_0 = 8,
    PP_DTYPE_Q2_K = 10,
    PP_DTYPE_Q3_K = 11,
    PP_DTYPE_Q4_K = 12,
    PP_DTYPE_Q5_K = 13,
    PP_DTYPE_Q6_K = 14,
    PP_DTYPE_IQ4_NL = 20,
    PP_DTYPE_IQ4_XS = 23,
    PP_DTYPE_BF16 = 30,
} pp_dtype;

/// One tensor of an opened model, in canonical (GGUF-style) naming:
/// token_embd.weight, blk.N.attn_norm.weight, blk.N.attn_q.weight, ..., output_norm.weight,
/// output.weight. dims use ggml order: dims[0] is the contiguous (row) length, so a weight
/// of a layer y = W x with in_features I and out_features O has dims {I, O}.
typedef struct pp_tensor_info {
    const char *name;     ///< valid until the model is closed
    uint32_t dtype;       ///< a pp_dtype value
    uint32_t n_dims;      ///< 1...4
    int64_t dims[4];      ///< unused dims are 1
    const void *data;     ///< mapped read-only memory, valid until the model is closed
    uint64_t n_bytes;
} pp_tensor_info;

typedef struct pp_model pp_model; ///< opaque, owned by the plugin

/// Model-format plugins: find a model on disk, describe it, and map the tensors of a shard.
typedef struct pp_model_format_vtable {
    uint32_t struct_size; ///< sizeof(pp_model_format_vtable) as the plugin was built

    /// How sure the plugin is that it can open `path` (0 = no, 100 = certain). Must not fail
    /// loudly: any unreadable or foreign path is simply 0.
    int32_t (*probe)(const char *path);

    /// Opens the model and maps only the tensors of blocks [block_start, block_end) (an empty
    /// range is allowed: a client's embeddings and head only), plus the
    /// token embeddings when block_start == 0 and the final norm and output head (or the
    /// tied embeddings) when block_end == the model's block count. block_end < 0 means "to
    /// the last block". Returns NULL and fills err on failure.
    pp_model *(*open)(const char *path, int32_t block_start, int32_t block_end,
                      char *err, size_t err_cap);

    void (*close)(pp_model *model);

    /// The model's description as UTF-8 JSON, valid until close. Schema (all plugins):
    /// { "architecture": "llama"|"qwen2"|"qwen3"|"gemma3"|"bloom"|"gpt2", "name": str, "block_count": int,
    ///   "block_start": int, "block_end": int, "context_length": int,
    ///   "embedding_length": int, "feed_forward_length": int, "head_count": int,
    ///   "head_count_kv": int, "rope_freq_base": float, "rope_dimension_count": int,
    ///   "rope_style": "normal"|"neox"|"none", "norm_epsilon": float, "vocab_size": int,
    ///   "tied_embeddings": bool, "activation": "silu"|"gelu_tanh"|"gelu"|"gelu_tanh_f16_table"?
    ///   (absent: the architecture's own), "model_id": str?, "head_dim": int? (absent:
    ///   embedding_length / head_count), "sliding_window": int?, "sliding_window_pattern": int?,
    ///   "rope_freq_base_swa": float?, "attention_scale": float? (absent: 1 / sqrt(head size)),
    ///   "tokenizer": { "model": "gpt2"|"llama", "pre": str, "tokens": [str], "token_types": [int],
    ///                  "merges": [str], "bos_token_id": int, "eos_token_id": int,
    ///                  "add_bos_token": bool, "chat_template": str?, "clean_spaces": bool?,
    ///                  "scores": [f32]?, "add_space_prefix": bool?, "unknown_token_id": int? } }
    /// Canonical tensor names per architecture: llama as above; bloom and gpt2 use
    /// attn_norm/ffn_norm/output_norm .weight and .bias, attn_qkv (rows of every head's q, then
    /// k, then v), attn_output, ffn_up, ffn_down (.weight and .bias), plus token_embd_norm
    /// (bloom) or position_embd (gpt2) in the first shard.
    const char *(*description_json)(pp_model *model);

    int32_t (*tensor_count)(pp_model *model);

    /// Fills `out` for tensor `index` in [0, tensor_count). Returns 0 on success.
    int32_t (*tensor_at)(pp_model *model, int32_t index, pp_tensor_info *out);
} pp_model_format_vtable;

typedef struct pp_connection pp_connection; ///< opaque, owned by the plugin
typedef struct pp_listener pp_listener;     ///< opaque, owned by the plugin

/// Transport plugins: a reliable, ordered byte stream between two nodes. Framing and the
/// request protocol live in the host; the transport only moves bytes. All calls block; a
/// connection is used by one thread at a time. Functions after `close` were added later: the
/// host calls them only when struct_size covers them.
typedef struct pp_transport_vtable {
    uint32_t struct_size;
    /// Listens on `address` (format defined by the transport, e.g. "127.0.0.1:31330" for TCP,
    /// a file path for Unix sockets). Writes the bound address (useful with port 0) into
    /// bound/bound_cap.
    pp_listener *(*listen)(const char *address, char *bound, size_t bound_cap,
                           char *err, size_t err_cap);
    /// Waits up to timeout_ms (<= 0: forever) for a client. Returns NULL with err set on
    /// failure, NULL with err[0] == 0 on timeout.
    pp_connection *(*accept)(pp_listener *listener, int32_t timeout_ms, char *err, size_t err_cap);
    void (*close_listener)(pp_listener *listener);
    pp_connection *(*connect)(const char *address, int32_t timeout_ms, char *err, size_t err_cap);
    /// Writes all `len` bytes or fails. Returns 0 on success, -1 on failure.
    int32_t (*send_all)(pp_connection *conn, const void *bytes, size_t len, char *err, size_t err_cap);
    /// Reads exactly `len` bytes within timeout_ms in total (one deadline for the call, however
    /// the bytes trickle in). Returns 0 on success; PP_RECV_TIMEOUT when no byte arrived within
    /// timeout_ms (nothing consumed: the call may be repeated); -1 on failure, including the
    /// peer closing or not completing the bytes by the deadline. timeout_ms <= 0 waits forever.
    int32_t (*recv_exact)(pp_connection *conn, void *bytes, size_t len, int32_t timeout_ms,
                          char *err, size_t err_cap);
    void (*close)(pp_connection *conn);
    /// Writes the remote peer's host (an IP address for TCP, "local" for Unix sockets) into
    /// out/out_cap, so servers can limit connections per address. Returns 0 on success.
    /// Optional (may be NULL or beyond an older plugin's struct_size).
    int32_t (*peer_host)(pp_connection *conn, char *out, size_t out_cap);
} pp_transport_vtable;

#define PP_RECV_TIMEOUT 1

typedef struct pp_plugin_descriptor {
    uint32_t abi_version;    ///< PP_PLUGIN_ABI_VERSION the plugin was built against
    uint32_t kind;           ///< a pp_plugin_kind value
    const char *name;        ///< short unique name, e.g. "gguf"
    const char *version;     ///< the plugin's own version string
    const char *description; ///< one line for `plumise-petals plugins`
    /// pp_model_format_vtable* for PP_KIND_MODEL_FORMAT, pp_transport_vtable* for PP_KIND_TRANSPORT
    const void *vtable;
} pp_plugin_descriptor;

typedef const pp_plugin_descriptor *(*pp_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif
