import COpenSSL
import Foundation
import PluginAPI
import PluginSockets
#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` with SIGPIPE blocked for this thread and discards one it raised: OpenSSL writes
/// with write(2), which raises SIGPIPE when the peer is gone, and a plugin must not kill (or
/// change the signal handling of) the process that loaded it. A failed write is an error.
func withoutSIGPIPE<T>(_ body: () throws -> T) rethrows -> T {
    var pipe = sigset_t()
    sigemptyset(&pipe)
    sigaddset(&pipe, SIGPIPE)
    var previous = sigset_t()
    pthread_sigmask(SIG_BLOCK, &pipe, &previous)
    defer {
        var pending = sigset_t()
        sigpending(&pending)
        if sigismember(&pending, SIGPIPE) == 1 {
            var now = timespec()
            sigtimedwait(&pipe, nil, &now)
        }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
    }
    return try body()
}

/// A TLS session over a blocking TCP socket.
final class TLSStream: TransportConnectionHandle {
    private var fd: Int32
    private let ssl: OpaquePointer
    private let context: TLSContext // the SSL keeps a reference; this keeps the Swift wrapper alive
    private let server: Bool
    private var established = false
    private let lock = NSLock()

    init(fd: Int32, context: TLSContext, server: Bool) throws {
        guard let ssl = SSL_new(context.raw) else {
            Glibc.close(fd)
            throw openSSLError("cannot create a TLS session")
        }
        self.fd = fd
        self.ssl = ssl
        self.context = context
        self.server = server
        SSL_set_fd(ssl, fd)
    }

    deinit {
        close()
        SSL_free(ssl)
    }

    /// Runs the TLS handshake, waiting at most `timeoutMs` for each of the peer's messages.
    func handshake(timeoutMs: Int32) throws {
        guard !established else { return }
        while true {
            let result = withoutSIGPIPE { server ? SSL_accept(ssl) : SSL_connect(ssl) }
            if result == 1 { break }
            switch SSL_get_error(ssl, result) {
            case SSL_ERROR_WANT_READ:
                guard try waitReady(fd, events: Int16(POLLIN), timeoutMs: timeoutMs) else {
                    throw TransportFailure("TLS handshake timed out")
                }
            case SSL_ERROR_WANT_WRITE:
                guard try waitReady(fd, events: Int16(POLLOUT), timeoutMs: timeoutMs) else {
                    throw TransportFailure("TLS handshake timed out")
                }
            default:
                throw openSSLError("TLS handshake failed")
            }
        }
        established = true
    }

    var peerHost: String? { lock.withLock { fd >= 0 ? PluginSockets.peerHost(of: fd) : nil } }

    func send(_ bytes: UnsafeRawBufferPointer) throws {
        guard fd >= 0 else { throw TransportFailure("connection is closed") }
        try handshake(timeoutMs: 10_000)
        var offset = 0
        while offset < bytes.count {
            let chunk = Int32(min(bytes.count - offset, 1 << 30))
            let n = withoutSIGPIPE { SSL_write(ssl, bytes.baseAddress! + offset, chunk) }
            if n <= 0 {
                if SSL_get_error(ssl, n) == SSL_ERROR_WANT_WRITE { continue }
                throw openSSLError("TLS send failed")
            }
            offset += Int(n)
        }
    }

    func receive(into buffer: UnsafeMutableRawBufferPointer, timeoutMs: Int32) throws -> Bool {
        guard fd >= 0 else { throw TransportFailure("connection is closed") }
        try handshake(timeoutMs: 10_000)
        let deadline = Deadline(timeoutMs)
        var offset = 0
        while offset < buffer.count {
            // Decrypted bytes may already wait inside OpenSSL; only poll the socket when not.
            if SSL_pending(ssl) == 0 {
                guard let wait = deadline.remainingMs, try waitReady(fd, events: Int16(POLLIN), timeoutMs: wait) else {
                    if offset == 0 { return false }
                    throw TransportFailure("peer sent \(offset) of \(buffer.count) bytes within \(timeoutMs) ms")
                }
            }
            let n = withoutSIGPIPE { SSL_read(ssl, buffer.baseAddress! + offset, Int32(min(buffer.count - offset, 1 << 30))) }
            if n > 0 {
                offset += Int(n)
                continue
            }
            switch SSL_get_error(ssl, n) {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: continue // a record not complete yet
            case SSL_ERROR_ZERO_RETURN: throw TransportFailure("peer closed the connection")
            default:
                let failure = openSSLError("TLS receive failed")
                throw failure.description == "TLS receive failed" ? TransportFailure("peer closed the connection") : failure
            }
        }
        return true
    }

    func close() {
        lock.lock()
        defer { lock.unlock() }
        guard fd >= 0 else { return }
        if established { _ = withoutSIGPIPE { SSL_shutdown(ssl) } }
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
        fd = -1
    }
}
