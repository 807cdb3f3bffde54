import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension PeerAddress {
    /// Whether the server runs on this machine (a unix socket, a loopback address, or an address
    /// of one of this machine's interfaces), so it shares this process's cores: steps sent to it
    /// do not run in parallel with this machine's own work. Host names other than localhost are
    /// not resolved: they count as elsewhere.
    public var isOnThisMachine: Bool {
        if transport == "unix" { return true }
        guard let host = hostPart else { return false }
        if host == "localhost" || host == "::1" || host.hasPrefix("127.") { return true }
        return LocalInterfaces.addresses.contains(host)
    }

    /// The host of a host:port location ("[v6]:port" included), without transport options.
    var hostPart: String? {
        let bare = location.split(separator: "?", maxSplits: 1).first.map(String.init) ?? location
        if bare.hasPrefix("[") {
            guard let close = bare.firstIndex(of: "]") else { return nil }
            return String(bare[bare.index(after: bare.startIndex)..<close]).lowercased()
        }
        guard let colon = bare.lastIndex(of: ":") else { return bare.lowercased() }
        return String(bare[..<colon]).lowercased()
    }
}

/// The numeric addresses of this machine's network interfaces, read once.
enum LocalInterfaces {
    static let addresses: Set<String> = {
        var found: Set<String> = []
        #if canImport(Glibc)
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return found }
        defer { freeifaddrs(list) }
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr else { continue }
            let family = Int32(address.pointee.sa_family)
            guard family == AF_INET || family == AF_INET6 else { continue }
            let length = socklen_t(family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
            var name = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            guard getnameinfo(address, length, &name, socklen_t(name.count), nil, 0, NI_NUMERICHOST) == 0 else { continue }
            // A link-local v6 address carries "%interface": the bare address is what peers write.
            let text = String(cString: name).lowercased()
            found.insert(text.split(separator: "%", maxSplits: 1).first.map(String.init) ?? text)
        }
        #endif
        return found
    }()
}
