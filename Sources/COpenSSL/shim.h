// The system OpenSSL (libssl-dev) for the TLS transport. Macros Swift cannot import are
// wrapped in inline functions here.
#ifndef PP_COPENSSL_SHIM_H
#define PP_COPENSSL_SHIM_H
#include <openssl/err.h>
#include <openssl/ssl.h>

static inline int pp_ssl_ctx_require_tls12(SSL_CTX *ctx) {
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}

static inline long pp_ssl_ctx_no_renegotiation(SSL_CTX *ctx) {
    return SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
}

/// The most recent OpenSSL error of this thread as text (or "" when there is none).
static inline void pp_ssl_last_error(char *buffer, size_t capacity) {
    unsigned long code = ERR_get_error();
    if (code == 0) { if (capacity > 0) buffer[0] = 0; return; }
    ERR_error_string_n(code, buffer, capacity);
    ERR_clear_error();
}
#endif
