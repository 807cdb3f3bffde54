import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The node's open-file budget. The shard server (a thread and a descriptor per connection),
/// the HTTP API (a descriptor per connection) and everything else (model files, plugins, logs,
/// the API's own connections to peers, the chain and the oracle) share one RLIMIT_NOFILE; the
/// servers' connection caps are sized so that together they cannot exhaust it.
public enum FileBudget {
    /// Descriptors kept for everything but the two servers' clients.
    public static let reserve = 128

    /// Raises the soft open-file limit to the hard one (allowed without privileges) and returns
    /// the soft limit in force.
    @discardableResult
    public static func raiseLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// Connection caps for the shard server and the HTTP API within `limit` descriptors: half
    /// of what the reserve leaves to the shard server, a quarter to the API (the last quarter
    /// is for the connections the API's generations open to peers), each at most `ceiling`.
    public static func split(limit: Int, ceiling: Int = 256) -> (shard: Int, api: Int) {
        let available = max(limit - reserve, 64)
        return (min(ceiling, available / 2), min(ceiling, available / 4))
    }
}

/// Checks that ports can be bound before the node announces itself anywhere: a port in use
/// must stop the node before it registers on chain, with the port and its setting named.
public enum PortCheck {
    public struct InUse: Error, CustomStringConvertible {
        public let what: String
        public let host: String
        public let port: Int
        public let setting: String
        public let reason: String

        public var description: String {
            "cannot listen for the \(what) on \(host):\(port) (\(setting)): \(reason); stop what uses the port or choose another"
        }
    }

    /// Binds and releases `host:port` (port 0 is always free).
    public static func ensureFree(host: String, port: Int, what: String, setting: String) throws {
        guard port != 0 else { return }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else {
            throw InUse(what: what, host: host, port: port, setting: setting, reason: "cannot resolve \(host)")
        }
        defer { freeaddrinfo(info) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            throw InUse(what: what, host: host, port: port, setting: setting, reason: String(cString: strerror(errno)))
        }
    }
}
