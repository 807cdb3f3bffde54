import Foundation
import PluginAPI
#if canImport(Glibc)
import Glibc
#endif

/// The message of the current errno, prefixed with what was being done.
public func errnoMessage(_ what: String) -> String {
    "\(what): \(String(cString: strerror(errno)))"
}

/// Waits until `fd` is ready for `events`; false on timeout (timeoutMs <= 0 waits forever).
public func waitReady(_ fd: Int32, events: Int16, timeoutMs: Int32) throws -> Bool {
    var entry = pollfd(fd: fd, events: events, revents: 0)
    while true {
        let n = poll(&entry, 1, timeoutMs > 0 ? timeoutMs : -1)
        if n > 0 { return true }
        if n == 0 { return false }
        if errno == EINTR { continue }
        throw TransportFailure(errnoMessage("poll"))
    }
}

/// The end of one call's time budget, so a peer trickling bytes cannot stretch a read past it.
public struct Deadline {
    private let end: UInt64?

    /// `timeoutMs` <= 0: no deadline.
    public init(_ timeoutMs: Int32) {
        end = timeoutMs > 0 ? DispatchTime.now().uptimeNanoseconds + UInt64(timeoutMs) * 1_000_000 : nil
    }

    /// Milliseconds left to wait (0: no deadline, wait forever), nil once it has passed.
    public var remainingMs: Int32? {
        guard let end else { return 0 }
        let now = DispatchTime.now().uptimeNanoseconds
        guard end > now else { return nil }
        return Int32(clamping: max((end - now) / 1_000_000, 1))
    }
}

/// The host at the other end of a connected socket: the IP address for TCP, "local" for Unix
/// sockets, nil when the socket cannot tell.
public func peerHost(of fd: Int32) -> String? {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let got = withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
    }
    guard got == 0 else { return nil }
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
    switch Int32(storage.ss_family) {
    case AF_INET:
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                var raw = address.pointee.sin_addr
                return inet_ntop(AF_INET, &raw, &text, socklen_t(text.count)).map { _ in String(cString: text) }
            }
        }
    case AF_INET6:
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                var raw = address.pointee.sin6_addr
                return inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count)).map { _ in String(cString: text) }
            }
        }
    case AF_UNIX:
        return "local"
    default:
        return nil
    }
}

/// A connected stream socket (TCP or Unix) moving bytes with blocking calls.
public final class SocketStream: TransportConnectionHandle {
    private var fd: Int32
    private let lock = NSLock()

    public init(fd: Int32) {
        self.fd = fd
    }

    deinit { close() }

    public var peerHost: String? { lock.withLock { fd >= 0 ? PluginSockets.peerHost(of: fd) : nil } }

    public func send(_ bytes: UnsafeRawBufferPointer) throws {
        guard fd >= 0 else { throw TransportFailure("connection is closed") }
        var offset = 0
        while offset < bytes.count {
            // MSG_NOSIGNAL: a peer that went away is an error here, not a SIGPIPE for the process.
            let n = Glibc.send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR { continue }
                throw TransportFailure(errnoMessage("send"))
            }
            offset += n
        }
    }

    public func receive(into buffer: UnsafeMutableRawBufferPointer, timeoutMs: Int32) throws -> Bool {
        guard fd >= 0 else { throw TransportFailure("connection is closed") }
        let deadline = Deadline(timeoutMs)
        var offset = 0
        while offset < buffer.count {
            guard let wait = deadline.remainingMs, try waitReady(fd, events: Int16(POLLIN), timeoutMs: wait) else {
                if offset == 0 { return false }
                throw TransportFailure("peer sent \(offset) of \(buffer.count) bytes within \(timeoutMs) ms")
            }
            let n = recv(fd, buffer.baseAddress! + offset, buffer.count - offset, 0)
            if n == 0 { throw TransportFailure("peer closed the connection") }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw TransportFailure(errnoMessage("recv"))
            }
            offset += n
        }
        return true
    }

    public func close() {
        lock.lock()
        defer { lock.unlock() }
        guard fd >= 0 else { return }
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
        fd = -1
    }
}

/// A listening stream socket.
public final class SocketListener: TransportListenerHandle {
    private var fd: Int32
    private let onClose: () -> Void
    private let configure: (Int32) -> Void
    private let lock = NSLock()

    /// `configure` runs on every accepted socket (e.g. TCP_NODELAY); `onClose` after closing
    /// (e.g. removing a Unix socket file).
    public init(fd: Int32, configure: @escaping (Int32) -> Void = { _ in }, onClose: @escaping () -> Void = {}) {
        self.fd = fd
        self.configure = configure
        self.onClose = onClose
    }

    deinit { close() }

    public func accept(timeoutMs: Int32) throws -> TransportConnectionHandle? {
        try acceptDescriptor(timeoutMs: timeoutMs).map { SocketStream(fd: $0) }
    }

    /// The next client's socket, configured, or nil on timeout (for transports that wrap it).
    public func acceptDescriptor(timeoutMs: Int32) throws -> Int32? {
        guard fd >= 0 else { throw TransportFailure("listener is closed") }
        while true {
            guard try waitReady(fd, events: Int16(POLLIN), timeoutMs: timeoutMs) else { return nil }
            let client = Glibc.accept(fd, nil, nil)
            if client < 0 {
                // The client may have gone between poll and accept: wait for the next one.
                if errno == EINTR || errno == EAGAIN || errno == ECONNABORTED { continue }
                throw TransportFailure(errnoMessage("accept"))
            }
            configure(client)
            return client
        }
    }

    public func close() {
        lock.lock()
        defer { lock.unlock() }
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
        onClose()
    }
}

/// Connects `fd` to `address` within `timeoutMs` (<= 0: 10 s) using a non-blocking connect.
public func connectSocket(_ fd: Int32, address: UnsafePointer<sockaddr>, length: socklen_t, timeoutMs: Int32) throws {
    let flags = fcntl(fd, F_GETFL, 0)
    _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    defer { _ = fcntl(fd, F_SETFL, flags) }
    if Glibc.connect(fd, address, length) == 0 { return }
    guard errno == EINPROGRESS || errno == EINTR else { throw TransportFailure(errnoMessage("connect")) }
    guard try waitReady(fd, events: Int16(POLLOUT), timeoutMs: timeoutMs > 0 ? timeoutMs : 10_000) else {
        throw TransportFailure("connect timed out after \(timeoutMs > 0 ? timeoutMs : 10_000) ms")
    }
    var error: Int32 = 0
    var size = socklen_t(MemoryLayout<Int32>.size)
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
    guard error == 0 else { throw TransportFailure("connect: \(String(cString: strerror(error)))") }
}

/// Binds `fd` to `address` and starts listening; closes `fd` and throws on failure.
public func bindAndListen(_ fd: Int32, address: UnsafePointer<sockaddr>, length: socklen_t, name: String) throws {
    guard bind(fd, address, length) == 0 else {
        let message = errnoMessage("bind \(name)")
        Glibc.close(fd)
        throw TransportFailure(message)
    }
    guard Glibc.listen(fd, 128) == 0 else {
        let message = errnoMessage("listen \(name)")
        Glibc.close(fd)
        throw TransportFailure(message)
    }
}
