import COpenSSL
import Foundation
import PluginAPI
import PluginSockets
#if canImport(Glibc)
import Glibc
#endif

/// TCP wrapped in TLS (the system OpenSSL, TLS 1.2 or newer). Addresses are "host:port" with
/// options after '?': a server needs `cert` and `key` (PEM files), e.g.
/// "0.0.0.0:31330?cert=/etc/petals/node.crt&key=/etc/petals/node.key"; a client may give `ca`
/// (a PEM bundle) to verify the server's certificate, otherwise the stream is encrypted but the
/// server is not authenticated (nodes of an open swarm usually have self-signed certificates).
struct TLSTransport: TransportProvider {
    let name = "tls"
    let version = "1.0.0"
    let summary = "TCP with TLS via the system OpenSSL (host:port?cert=…&key=… to listen, ?ca=… to verify)"

    func listen(address: String) throws -> (TransportListenerHandle, bound: String) {
        let (location, options) = try TLSAddress.parse(address)
        guard let cert = options["cert"], let key = options["key"] else {
            throw TransportFailure("a TLS listener needs cert and key: host:port?cert=FILE&key=FILE")
        }
        let context = try TLSContext(server: true)
        try context.loadCertificate(cert, key: key)
        let (fd, bound) = try TCPSockets.listen(location)
        return (TLSListener(sockets: SocketListener(fd: fd, configure: TCPSockets.configure), context: context), bound)
    }

    func connect(address: String, timeoutMs: Int32) throws -> TransportConnectionHandle {
        let (location, options) = try TLSAddress.parse(address)
        let context = try TLSContext(server: false)
        if let ca = options["ca"] { try context.verify(with: ca) }
        let fd = try TCPSockets.connect(location, timeoutMs: timeoutMs)
        let stream = try TLSStream(fd: fd, context: context, server: false)
        try stream.handshake(timeoutMs: timeoutMs > 0 ? timeoutMs : 10_000)
        return stream
    }
}

/// "host:port?k=v&k=v" → (host:port, options).
enum TLSAddress {
    static func parse(_ address: String) throws -> (String, [String: String]) {
        let parts = address.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var options: [String: String] = [:]
        if parts.count == 2 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, ["cert", "key", "ca"].contains(String(kv[0])) else {
                    throw TransportFailure("unknown TLS option '\(pair)' (known: cert, key, ca)")
                }
                options[String(kv[0])] = String(kv[1])
            }
        }
        return (String(parts[0]), options)
    }
}

/// Accepts TCP clients; the TLS handshake happens on the connection's own thread (first use),
/// so a slow or silent client never holds up the accept loop.
final class TLSListener: TransportListenerHandle {
    private let sockets: SocketListener
    private let context: TLSContext

    init(sockets: SocketListener, context: TLSContext) {
        self.sockets = sockets
        self.context = context
    }

    func accept(timeoutMs: Int32) throws -> TransportConnectionHandle? {
        guard let fd = try sockets.acceptDescriptor(timeoutMs: timeoutMs) else { return nil }
        return try TLSStream(fd: fd, context: context, server: true)
    }

    func close() { sockets.close() }
}
