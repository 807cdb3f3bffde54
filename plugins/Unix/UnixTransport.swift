import Foundation
import PluginAPI
import PluginSockets
#if canImport(Glibc)
import Glibc
#endif

/// Unix-domain stream sockets: the address is a file path. Only for nodes on one machine, and
/// the proof that the transport boundary is a plugin, not a TCP assumption.
struct UnixTransport: TransportProvider {
    let name = "unix"
    let version = "1.0.0"
    let summary = "Unix-domain stream sockets (a file path), for nodes on one machine"

    func listen(address path: String) throws -> (TransportListenerHandle, bound: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TransportFailure(errnoMessage("socket")) }
        // A socket file left by a process that died would make bind fail: remove it first,
        // but never remove something that is not a socket.
        var info = stat()
        if lstat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFSOCK else {
                Glibc.close(fd)
                throw TransportFailure("\(path) exists and is not a socket")
            }
            unlink(path)
        }
        try Self.withAddress(path) { try bindAndListen(fd, address: $0, length: $1, name: path) }
        return (SocketListener(fd: fd, onClose: { unlink(path) }), path)
    }

    func connect(address path: String, timeoutMs: Int32) throws -> TransportConnectionHandle {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TransportFailure(errnoMessage("socket")) }
        do {
            try Self.withAddress(path) { try connectSocket(fd, address: $0, length: $1, timeoutMs: timeoutMs) }
        } catch {
            Glibc.close(fd)
            throw error
        }
        return SocketStream(fd: fd)
    }

    private static func withAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> T) throws -> T {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else {
            throw TransportFailure("socket path must be 1...\(capacity - 1) bytes: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        return try withUnsafePointer(to: &address) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try body($0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }
}
