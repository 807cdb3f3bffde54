import Foundation
import PluginAPI
#if canImport(Glibc)
import Glibc
#endif

/// TCP socket setup shared by the plain TCP and the TLS transports.
public enum TCPSockets {
    /// A listening TCP socket on "host:port" (port 0: any free port) and the address it got.
    public static func listen(_ address: String) throws -> (fd: Int32, bound: String) {
        let (host, port) = try split(address)
        return try withAddress(host: host, port: port, passive: true) { info in
            let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw TransportFailure(errnoMessage("socket")) }
            var yes: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
            try bindAndListen(fd, address: info.pointee.ai_addr, length: info.pointee.ai_addrlen, name: address)
            return (fd, "\(host.contains(":") ? "[\(host)]" : host):\(boundPort(fd))")
        }
    }

    /// A TCP socket connected to "host:port" within `timeoutMs`, configured (`configure`).
    public static func connect(_ address: String, timeoutMs: Int32) throws -> Int32 {
        let (host, port) = try split(address)
        return try withAddress(host: host, port: port, passive: false) { info in
            let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw TransportFailure(errnoMessage("socket")) }
            do {
                try connectSocket(fd, address: info.pointee.ai_addr, length: info.pointee.ai_addrlen, timeoutMs: timeoutMs)
            } catch {
                Glibc.close(fd)
                throw error
            }
            configure(fd)
            return fd
        }
    }

    /// Every connected TCP socket, both ends: Nagle off (small request/response frames must not
    /// wait for it) and keepalive probes, so a peer that vanished without closing (power loss,
    /// a dropped NAT entry) is noticed in about two minutes instead of never.
    public static func configure(_ fd: Int32) {
        func set(_ level: Int32, _ option: Int32, _ value: Int32) {
            var value = value
            setsockopt(fd, level, option, &value, socklen_t(MemoryLayout<Int32>.size))
        }
        set(Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        set(SOL_SOCKET, SO_KEEPALIVE, 1)
        set(Int32(IPPROTO_TCP), TCP_KEEPIDLE, 60)
        set(Int32(IPPROTO_TCP), TCP_KEEPINTVL, 10)
        set(Int32(IPPROTO_TCP), TCP_KEEPCNT, 6)
    }

    /// "host:port" → (host, port); the port must be a number in 0...65535.
    public static func split(_ address: String) throws -> (String, UInt16) {
        guard let colon = address.lastIndex(of: ":") else {
            throw TransportFailure("'\(address)' is not host:port")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = UInt16(address[address.index(after: colon)...]) else {
            throw TransportFailure("'\(address)' is not host:port with a port in 0...65535")
        }
        return (host, port)
    }

    private static func withAddress<T>(host: String, port: UInt16, passive: Bool,
                                       _ body: (UnsafeMutablePointer<addrinfo>) throws -> T) throws -> T {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = passive ? AI_PASSIVE : 0
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let info = result else {
            throw TransportFailure("cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(info) }
        return try body(info)
    }

    private static func boundPort(_ fd: Int32) -> UInt16 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
        }
        let family = storage.ss_family
        return withUnsafePointer(to: &storage) { pointer in
            if family == sa_family_t(AF_INET6) {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }
}
