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
    /// Positions one session may hold on the server (its --max-length).
    public var maxSessionLength: Int

    public init(address: String, blocks: Range<Int>, freeCacheTokens: Int, latencySeconds: Double,
                secondsPerBlock: Double, maxSessionLength: Int = .max) {
        self.address = address
        self.blocks = blocks
        self.freeCacheTokens = freeCacheTokens
        self.latencySeconds = latencySeconds
        self.secondsPerBlock = secondsPerBlock
        self.maxSessionLength = maxSessionLength
    }
}

/// One hop of a route: `server` runs blocks `blocks` (a sub-range of what it serves).
public struct RouteHop: Equatable, Sendable {
    public var server: ServerCandidate
    public var blocks: Range<Int>
}

public enum RouteError: Error, Equatable, CustomStringConvertible {
    case noRoute(missing: [Range<Int>], blockCount: Int)
    /// Servers cover the blocks, but none of their routes holds a session this long: the
    /// request is too long for this swarm, no server is at fault.
    case sessionTooLong(requested: Int, longest: Int)

    public var description: String {
        switch self {
        case .noRoute(let missing, let count):
            let list = missing.map { "[\($0.lowerBound), \($0.upperBound))" }.joined(separator: ", ")
            return "no route over the model's \(count) blocks: no usable server for blocks \(list)"
        case .sessionTooLong(let requested, let longest):
            return "the prompt and the tokens to generate need \(requested) positions, but the servers of this "
                + "model hold at most \(longest) per session (their --max-length): shorten the prompt or ask for fewer tokens"
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
                && $0.maxSessionLength >= sessionLength
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
            if let longest = longestSession(servers: servers, span: span, blockCount: blockCount, below: sessionLength,
                                            excluding: banned) {
                throw RouteError.sessionTooLong(requested: sessionLength, longest: longest)
            }
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

    /// The longest session shorter than `below` that some route over `span` can hold, if any:
    /// what the servers' session limits allow when those limits are why no route exists.
    static func longestSession(servers: [ServerCandidate], span: Range<Int>, blockCount: Int, below: Int,
                               excluding banned: Set<String>) -> Int? {
        // Only servers with cache room for the whole request: when they are full, the length is
        // not what stands in the way.
        let roomy = servers.filter { $0.freeCacheTokens >= below }
        let lengths = Set(roomy.map(\.maxSessionLength)).filter { $0 > 0 && $0 < below }.sorted(by: >)
        return lengths.first { length in
            (try? plan(servers: roomy, span: span, blockCount: blockCount, sessionLength: length,
                       excluding: banned)) != nil
        }
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
