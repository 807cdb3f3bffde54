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
        let usable = servers.filter {
            !banned.contains($0.address) && $0.freeCacheTokens >= sessionLength && !$0.blocks.isEmpty
        }
        // Shortest path over block boundaries 0...blockCount (a DAG: hops only move forward).
        var cost = [Double](repeating: .infinity, count: blockCount + 1)
        var via = [RouteHop?](repeating: nil, count: blockCount + 1)
        cost[0] = 0
        for start in 0..<blockCount where cost[start].isFinite {
            for server in usable where server.blocks.contains(start) {
                let end = min(server.blocks.upperBound, blockCount)
                let total = cost[start] + server.latencySeconds + Double(end - start) * server.secondsPerBlock
                if total < cost[end] {
                    cost[end] = total
                    via[end] = RouteHop(server: server, blocks: start..<end)
                }
            }
        }
        guard cost[blockCount].isFinite else {
            throw RouteError.noRoute(missing: uncovered(by: usable, blockCount: blockCount), blockCount: blockCount)
        }
        var hops: [RouteHop] = []
        var at = blockCount
        while at > 0, let hop = via[at] {
            hops.append(hop)
            at = hop.blocks.lowerBound
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
