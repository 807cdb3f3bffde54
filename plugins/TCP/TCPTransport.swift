import PluginAPI
import PluginSockets

/// Plain TCP: addresses are "host:port" ("[::1]:port" for IPv6); port 0 picks a free port.
struct TCPTransport: TransportProvider {
    let name = "tcp"
    let version = "1.0.0"
    let summary = "TCP byte streams (host:port), Nagle disabled for low per-hop latency"

    func listen(address: String) throws -> (TransportListenerHandle, bound: String) {
        let (fd, bound) = try TCPSockets.listen(address)
        return (SocketListener(fd: fd, configure: TCPSockets.configure), bound)
    }

    func connect(address: String, timeoutMs: Int32) throws -> TransportConnectionHandle {
        SocketStream(fd: try TCPSockets.connect(address, timeoutMs: timeoutMs))
    }
}
