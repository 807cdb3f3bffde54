/// What a client knows about one server when planning a route.
public struct ServerCandidate: Equatable, Sendable {
    public var address: String
    public var blocks: Range<Int>
    /// Cache positions the server can still reserve.
    public var freeCacheTokens: Int
    /// Measured round-trip time to the server.
    public var latencySeconds: Double
    /// Seconds the server needs per block per token (its announced throughput, inverted).
    public var secondsPerBlock: Double

    public init(address: String, blocks: Range<Int>, freeCacheTokens: Int, latencySeconds: Double,
                secondsPerBlock: Double) {
        self.address = address
        self.blocks = blocks
        self.freeCacheTokens = freeCacheTokens
        self.latencySeconds = latencySeconds
        self.secondsPerBlock = secondsPerBlock
    }
}

/// One hop of a route: `server` runs blocks `blocks` (a sub-range of what it serves).
public struct RouteHop: Equatable, Sendable {
    public var server: ServerCandidate
    public var blocks: Range<Int>
}

public enum RouteError: Error, Equatable, CustomStringConvertible {
    case noRoute(missing: [Range<Int>], blockCount: Int)

    public var description: String {
        switch self {
        case .noRoute(let missing, let count):
            let list = missing.map { "[\($0.lowerBound), \($0.upperBound))" }.joined(separator: ", ")
            return "no route over the model's \(count) blocks: no usable server for blocks \(list)"
        }
    }
}

/// Chooses which servers run which blocks: the cheapest chain from block 0 to blockCount, where
/// a hop costs the server's latency plus its per-block time for each block it runs.
public enum RoutePlanner {
    public static func plan(servers: [ServerCandidate], blockCount: Int, sessionLength: Int,
                            excluding banned: Set<String> = []) throws -> [RouteHop] {
        try plan(servers: servers, span: 0..<blockCount, blockCount: blockCount, sessionLength: sessionLength,
                 excluding: banned)
    }

    /// The cheapest chain of hops covering blocks `span` (used to replace a failed hop).
    public static func plan(servers: [ServerCandidate], span: Range<Int>, blockCount: Int, sessionLength: Int,
                            excluding banned: Set<String> = []) throws -> [RouteHop] {
        let usable = servers.filter {
            !banned.contains($0.address) && $0.freeCacheTokens >= sessionLength && !$0.blocks.isEmpty
        }
        // Shortest path over block boundaries span.lowerBound...span.upperBound (a DAG: hops
        // only move forward). Index i stands for boundary span.lowerBound + i.
        let base = span.lowerBound, width = span.count
        var cost = [Double](repeating: .infinity, count: width + 1)
        var via = [RouteHop?](repeating: nil, count: width + 1)
        cost[0] = 0
        for i in 0..<width where cost[i].isFinite {
            let start = base + i
            for server in usable where server.blocks.contains(start) {
                let end = min(server.blocks.upperBound, span.upperBound)
                let total = cost[i] + server.latencySeconds + Double(end - start) * server.secondsPerBlock
                if total < cost[end - base] {
                    cost[end - base] = total
                    via[end - base] = RouteHop(server: server, blocks: start..<end)
                }
            }
        }
        guard cost[width].isFinite else {
            let missing = uncovered(by: usable, blockCount: blockCount).compactMap { gap -> Range<Int>? in
                let clipped = gap.clamped(to: span)
                return clipped.isEmpty ? nil : clipped
            }
            throw RouteError.noRoute(missing: missing, blockCount: blockCount)
        }
        var hops: [RouteHop] = []
        var at = width
        while at > 0, let hop = via[at] {
            hops.append(hop)
            at = hop.blocks.lowerBound - base
        }
        return hops.reversed()
    }

    /// Blocks no usable server serves, merged into ranges.
    static func uncovered(by servers: [ServerCandidate], blockCount: Int) -> [Range<Int>] {
        var covered = [Bool](repeating: false, count: blockCount)
        for server in servers {
            for b in server.blocks where b < blockCount { covered[b] = true }
        }
        var gaps: [Range<Int>] = []
        var b = 0
        while b < blockCount {
            if covered[b] { b += 1; continue }
            let start = b
            while b < blockCount && !covered[b] { b += 1 }
            gaps.append(start..<b)
        }
        return gaps
    }
}
