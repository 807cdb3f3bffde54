import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP socket on 127.0.0.1 for tests that must speak bytes no well-behaved client sends
/// (trickled frames, half-written headers, fake servers).
public final class RawSocket: @unchecked Sendable {
    public let fd: Int32

    init(fd: Int32) { self.fd = fd }

    /// Connects to 127.0.0.1:`port`.
    public static func connect(port: Int) throws -> RawSocket {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 else {
            Glibc.close(fd)
            throw RawSocketError("connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        return RawSocket(fd: fd)
    }

    deinit { Glibc.close(fd) }

    /// Sends all of `bytes`; false when the peer has closed.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    public func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Up to `count` bytes within `timeout` seconds: [] when the peer closed, nil on timeout.
    public func receive(upTo count: Int = 65536, timeout: Double) -> [UInt8]? {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, Int32(timeout * 1000)) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: count)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, count, 0) }
        return n <= 0 ? [] : Array(buffer.prefix(n))
    }

    /// Everything until the peer closes (or `timeout` passes: nil).
    public func receiveUntilClosed(timeout: Double) -> [UInt8]? {
        let end = Date().addingTimeInterval(timeout)
        var all: [UInt8] = []
        while Date() < end {
            guard let piece = receive(timeout: end.timeIntervalSinceNow) else { return nil }
            if piece.isEmpty { return all }
            all += piece
        }
        return nil
    }

    /// Exactly `count` bytes, or nil when they did not come within `timeout`.
    public func receive(exactly count: Int, timeout: Double) -> [UInt8]? {
        let end = Date().addingTimeInterval(timeout)
        var all: [UInt8] = []
        while all.count < count, Date() < end {
            guard let piece = receive(upTo: count - all.count, timeout: end.timeIntervalSinceNow), !piece.isEmpty else {
                return nil
            }
            all += piece
        }
        return all.count == count ? all : nil
    }
}

/// A listening TCP socket on 127.0.0.1 (a fake server for client tests).
public final class RawListener: @unchecked Sendable {
    public let fd: Int32
    public let port: Int

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw RawSocketError("bind/listen: \(String(cString: strerror(errno)))") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { Glibc.close(fd) }

    /// The next client, or nil after `timeout` seconds.
    public func accept(timeout: Double) -> RawSocket? {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, Int32(timeout * 1000)) > 0 else { return nil }
        let client = Glibc.accept(fd, nil, nil)
        return client >= 0 ? RawSocket(fd: client) : nil
    }
}

public struct RawSocketError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
