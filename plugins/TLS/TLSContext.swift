import COpenSSL
import PluginAPI

/// Thread-local OpenSSL error text for messages.
func openSSLError(_ what: String) -> TransportFailure {
    var buffer = [CChar](repeating: 0, count: 256)
    pp_ssl_last_error(&buffer, buffer.count)
    let detail = String(cString: buffer)
    return TransportFailure(detail.isEmpty ? what : "\(what): \(detail)")
}

/// One SSL_CTX: protocol settings, certificate and verification, shared by a listener's or a
/// client's connections.
final class TLSContext {
    let raw: OpaquePointer

    init(server: Bool) throws {
        guard let ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()) else {
            throw openSSLError("cannot create a TLS context")
        }
        raw = ctx
        guard pp_ssl_ctx_require_tls12(ctx) == 1 else { throw openSSLError("cannot require TLS 1.2") }
        _ = pp_ssl_ctx_no_renegotiation(ctx)
    }

    deinit { SSL_CTX_free(raw) }

    func loadCertificate(_ cert: String, key: String) throws {
        guard SSL_CTX_use_certificate_chain_file(raw, cert) == 1 else { throw openSSLError("cannot load certificate \(cert)") }
        guard SSL_CTX_use_PrivateKey_file(raw, key, SSL_FILETYPE_PEM) == 1 else { throw openSSLError("cannot load key \(key)") }
        guard SSL_CTX_check_private_key(raw) == 1 else { throw openSSLError("key \(key) does not match certificate \(cert)") }
    }

    /// Requires the peer's certificate to chain to the CA bundle `ca`.
    func verify(with ca: String) throws {
        guard SSL_CTX_load_verify_locations(raw, ca, nil) == 1 else { throw openSSLError("cannot load CA bundle \(ca)") }
        SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nil)
    }
}
