import Foundation
import Logging
import PetalsModel
import PluginAPI

/// Runs a model across the swarm: token embeddings and the output head here (they are small),
/// every block on remote shard servers chosen by RoutePlanner.
public final class RemoteBackend: InferenceBackend, @unchecked Sendable {
    public let directory: SwarmDirectory
    /// The model's name as its file states it; servers of another model are ignored.
    public let modelName: String
    private let embeddings: ModelShard
    private let head: HeadBatcher
    private let logger: Logger

    public var hyperparameters: ModelHyperparameters { embeddings.hp }
    /// The model's description (tokenizer and chat template included), read locally.
    public var modelDescription: ModelDescription { embeddings.modelDescription }

    /// Maps only the embeddings ([0, 0)) and the head ([n, n)) of the model at `path`.
    public init(host: PluginHost, modelPath: String, directory: SwarmDirectory, pool: ComputePool,
                logger: Logger = Logger(label: "petals.client")) throws {
        let first = try host.openModel(path: modelPath, blocks: 0..<0)
        let blockCount = first.description.blockCount
        embeddings = try ModelShard(model: first, pool: pool, maxBatch: 1)
        head = HeadBatcher(head: try ModelShard(model: try host.openModel(path: modelPath, blocks: blockCount..<blockCount),
                                                pool: pool, maxBatch: 1))
        modelName = first.description.name
        self.directory = directory
        self.logger = logger
    }

    public func openSession(capacity: Int) throws -> InferenceSession {
        let session = RemoteSession(backend: self, capacity: capacity)
        try session.connect()
        return session
    }

    fileprivate func embed(_ tokens: [Int], at position: Int) throws -> HiddenStates {
        let buffer = try embeddings.embed(tokens, at: position)
        embeddings.pool.park() // the blocks run elsewhere: free the CPU meanwhile
        return HiddenStates(rows: tokens.count, cols: hyperparameters.embedding, values: buffer.array())
    }

    /// The logits of the last of `states`' rows, batched with the other sessions' asking at once.
    fileprivate func logits(_ states: HiddenStates, session: ObjectIdentifier, routeIsLocal: Bool) throws -> [Float] {
        let e = hyperparameters.embedding
        return try head.logits(Array(states.values[((states.rows - 1) * e)..<(states.rows * e)]), session: session,
                               routeIsLocal: routeIsLocal)
    }

    /// A session closed: the head stops expecting its rows.
    fileprivate func sessionEnded(_ session: ObjectIdentifier) { head.forget(session) }

    /// Products of the output head run so far and the rows in them (several sessions' rows share one).
    public var headStatistics: (products: Int, rows: Int, largest: Int) {
        let s = head.statistics
        return (s.products, s.rows, s.largestProduct)
    }

    fileprivate var log: Logger { logger }
}

/// An inference session over a route of servers. Each hop remembers the inputs it was sent so
/// that, when its server fails, a replacement can rebuild the same KV cache by replaying them
/// in the same chunks (the same chunks give bit-identical caches, hence identical outputs).
final class RemoteSession: InferenceSession {
    private struct Hop {
        var blocks: Range<Int>
        var client: PeerClient
        var session: UInt64
        var inputs: [HiddenStates] = []
    }

    private let backend: RemoteBackend
    private let capacity: Int
    private var hops: [Hop] = []
    private(set) var position = 0
    /// Failovers this session survived (for logs and tests).
    private(set) var failovers = 0

    init(backend: RemoteBackend, capacity: Int) {
        self.backend = backend
        self.capacity = capacity
    }

    deinit {
        // Closing the connection frees the server-side sessions.
        for hop in hops { hop.client.close() }
        backend.sessionEnded(ObjectIdentifier(self))
    }

    private var blockCount: Int { backend.hyperparameters.blockCount }

    func connect() throws {
        hops = try openRoute(span: 0..<blockCount, replaying: [])
    }

    func step(_ tokens: [Int]) throws -> [Float] {
        guard !tokens.isEmpty else { throw ModelError.emptyPrompt }
        guard position + tokens.count <= capacity else {
            throw ModelError.contextFull(needed: position + tokens.count, capacity: capacity)
        }
        var states = try backend.embed(tokens, at: position)
        var index = 0
        while index < hops.count {
            do {
                let out = try hops[index].client.step(session: hops[index].session, position: position, states)
                guard out.rows == states.rows, out.cols == states.cols else {
                    throw WireError.unexpectedReply("\(out.rows)×\(out.cols) states for \(states.rows)×\(states.cols) sent")
                }
                hops[index].inputs.append(states)
                states = out
                index += 1
            } catch {
                try replaceHop(at: index, after: error)
                // Loop again at `index`: the first replacement hop now takes this step.
            }
        }
        position += tokens.count
        // Servers all on this machine share its cores: the head merges this session's group with others.
        let routeIsLocal = hops.allSatisfy { $0.client.address.isOnThisMachine }
        return try backend.logits(states, session: ObjectIdentifier(self), routeIsLocal: routeIsLocal)
    }

    /// Puts a replayed route over the same blocks in place of a failed hop, banning its server
    /// when the server is at fault. A request the server rightly refused is the caller's error.
    private func replaceHop(at index: Int, after error: Error) throws {
        let failed = hops[index]
        failed.client.close()
        try backend.directory.judge(failed.client.address.description, error: error)
        failovers += 1
        backend.log.warning("hop [\(failed.blocks.lowerBound), \(failed.blocks.upperBound)) failed: \(error); rerouting and replaying \(failed.inputs.count) steps")
        let replacement = try openRoute(span: failed.blocks, replaying: failed.inputs)
        hops.replaceSubrange(index...index, with: replacement)
    }

    /// Opens sessions on a cheapest route over `span`, replays `inputs` through it, and retries
    /// with backoff (banning whichever server fails) until it works or attempts run out.
    private func openRoute(span: Range<Int>, replaying inputs: [HiddenStates]) throws -> [Hop] {
        let options = backend.directory.options
        var lastError: Error = RouteError.noRoute(missing: [span], blockCount: blockCount)
        for attempt in 0..<max(options.maxAttempts, 1) {
            if attempt > 0 {
                Thread.sleep(forTimeInterval: options.backoffSeconds * Double(1 << min(attempt - 1, 6)))
            }
            let servers = backend.directory.candidates(model: backend.modelName, blockCount: blockCount)
            let plan: [RouteHop]
            do {
                let banned = backend.directory.banned
                func route(excluding: Set<String>) throws -> [RouteHop] {
                    try RoutePlanner.plan(servers: servers, span: span, blockCount: blockCount, sessionLength: capacity,
                                          excluding: excluding)
                }
                // Around the servers that just refused for lack of room, unless only they hold some blocks.
                plan = try (try? route(excluding: banned.union(backend.directory.busy))) ?? route(excluding: banned)
            } catch RouteError.sessionTooLong(let requested, let longest) {
                throw RouteError.sessionTooLong(requested: requested, longest: longest) // retrying cannot help
            } catch {
                lastError = error
                continue
            }
            var opened: [Hop] = []
            do {
                for step in plan {
                    let address = step.server.address
                    let hop = try blame(address) {
                        let client = try backend.directory.connect(try PeerAddress(parsing: address))
                        return Hop(blocks: step.blocks, client: client, session: try client.openSession(maxLength: capacity))
                    }
                    opened.append(hop)
                }
                try replay(inputs, through: &opened)
                return opened
            } catch let failure as HopFailure {
                lastError = failure.error
                opened.forEach { $0.client.close() }
                try backend.directory.judge(failure.address, error: failure.error)
            }
        }
        throw lastError
    }

    /// Re-sends every recorded step, in its original chunks, through freshly opened hops.
    private func replay(_ inputs: [HiddenStates], through hops: inout [Hop]) throws {
        var at = 0
        for input in inputs {
            var states = input
            for i in hops.indices {
                let hop = hops[i]
                let out = try blame(hop.client.address.description) {
                    try hop.client.step(session: hop.session, position: at, states)
                }
                hops[i].inputs.append(states)
                states = out
            }
            at += input.rows
        }
    }
}

/// A failure attributed to the server that caused it.
private struct HopFailure: Error {
    let address: String
    let error: Error
}

private func blame<T>(_ address: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch {
        throw HopFailure(address: address, error: error)
    }
}
