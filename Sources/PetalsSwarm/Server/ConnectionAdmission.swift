import Foundation

/// Counts a server's open connections, in total and per remote host, and turns away those over
/// the limits (each connection holds a thread and a file descriptor). Thread-safe.
final class ConnectionAdmission: @unchecked Sendable {
    private let limits: ServerLimits
    private let lock = NSLock()
    private var total = 0
    private var perHost: [String: Int] = [:]

    init(limits: ServerLimits) { self.limits = limits }

    var openCount: Int { lock.withLock { total } }

    /// Admits a connection from `host`, or says why not (the message the client is sent).
    func admit(_ host: String) -> String? {
        lock.withLock {
            guard total < limits.maxConnections else {
                return "server is at its limit of \(limits.maxConnections) connections; try another server or later"
            }
            let mine = perHost[host, default: 0]
            guard mine < limits.maxConnectionsPerHost else {
                return "\(host) already has \(mine) connections open, the limit per address is \(limits.maxConnectionsPerHost)"
            }
            total += 1
            perHost[host] = mine + 1
            return nil
        }
    }

    func release(_ host: String) {
        lock.withLock {
            total -= 1
            let left = perHost[host, default: 1] - 1
            perHost[host] = left > 0 ? left : nil
        }
    }
}
