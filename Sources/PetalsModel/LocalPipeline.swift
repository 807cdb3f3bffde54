import PluginAPI

/// Parses block ranges written "a:b" (blocks a ..< b).
public enum BlockRange {
    public static func parse(_ text: String) throws -> Range<Int> {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let start = Int(parts[0]), let end = Int(parts[1]) else {
            throw ModelError.invalidBlockRange("'\(text)' is not of the form start:end (e.g. 0:15)")
        }
        guard start >= 0, start < end else {
            throw ModelError.invalidBlockRange("'\(text)' must satisfy 0 <= start < end")
        }
        return start..<end
    }

    /// The parts of [0, blockCount) no range covers.
    public static func missing(from ranges: [Range<Int>], blockCount: Int) -> [Range<Int>] {
        var gaps: [Range<Int>] = []
        var next = 0
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if range.lowerBound > next { gaps.append(next..<min(range.lowerBound, blockCount)) }
            next = max(next, range.upperBound)
        }
        if next < blockCount { gaps.append(next..<blockCount) }
        return gaps
    }
}

/// Shards in this process that together cover every block, run one after another. Each
/// shard's steps go through its ``StepScheduler``, so concurrent sessions are batched.
public final class LocalPipeline: InferenceBackend {
    public let shards: [ModelShard]
    public let schedulers: [StepScheduler]
    private let ownsSchedulers: Bool
    public var hyperparameters: ModelHyperparameters { shards[0].hp }

    /// `shards` must chain [0, a), [a, b), ... up to the model's block count. `schedulers` (one
    /// per shard, e.g. a shard server's, so this process's own generations and remote clients are
    /// batched together) are made here when not given, and stopped with the pipeline.
    public init(shards: [ModelShard], schedulers: [StepScheduler]? = nil) throws {
        guard let first = shards.first else { throw ModelError.invalidBlockRange("no shards") }
        let blockCount = first.hp.blockCount
        let missing = BlockRange.missing(from: shards.map(\.blocks), blockCount: blockCount)
        guard missing.isEmpty else { throw ModelError.blocksNotCovered(missing: missing, blockCount: blockCount) }
        for (a, b) in zip(shards, shards.dropFirst()) where a.blocks.upperBound != b.blocks.lowerBound {
            throw ModelError.invalidBlockRange("shards [\(a.blocks.lowerBound), \(a.blocks.upperBound)) and [\(b.blocks.lowerBound), \(b.blocks.upperBound)) do not chain")
        }
        if let schedulers {
            guard schedulers.count == shards.count, zip(schedulers, shards).allSatisfy({ $0.shard === $1 }) else {
                throw ModelError.invalidBlockRange("one scheduler per shard, in the shards' order")
            }
        }
        self.shards = shards
        ownsSchedulers = schedulers == nil
        self.schedulers = schedulers ?? shards.map { StepScheduler(shard: $0) }
    }

    deinit {
        if ownsSchedulers { schedulers.forEach { $0.stop() } }
    }

    /// Opens `path` once per range through the plugin host (each open maps only its blocks).
    public static func load(host: PluginHost, path: String, ranges: [Range<Int>]?, pool: ComputePool,
                            maxBatch: Int = 64) throws -> LocalPipeline {
        let models: [PluginModel]
        if let ranges, !ranges.isEmpty {
            models = try ranges.sorted { $0.lowerBound < $1.lowerBound }.map { try host.openModel(path: path, blocks: $0) }
        } else {
            models = [try host.openModel(path: path)]
        }
        return try LocalPipeline(shards: models.map { try ModelShard(model: $0, pool: pool, maxBatch: maxBatch) })
    }

    /// A session whose KV caches are reserved in each shard's cache pool (ModelError.cacheFull
    /// when one has no room).
    public func openSession(capacity: Int) throws -> InferenceSession {
        LocalSession(shards: shards, schedulers: schedulers, caches: try shards.map { try $0.openCache(capacity: capacity) })
    }
}

final class LocalSession: InferenceSession {
    private let shards: [ModelShard]
    private let schedulers: [StepScheduler]
    private let caches: [KVCache]

    init(shards: [ModelShard], schedulers: [StepScheduler], caches: [KVCache]) {
        self.shards = shards
        self.schedulers = schedulers
        self.caches = caches
    }

    var position: Int { caches[0].count }

    func step(_ tokens: [Int]) throws -> [Float] {
        guard !tokens.isEmpty else { throw ModelError.emptyPrompt }
        let at = position
        let hidden = try shards[0].embed(tokens, at: at)
        var logits: [Float]?
        for (index, (scheduler, cache)) in zip(schedulers, caches).enumerated() {
            logits = try scheduler.run(hidden, rows: tokens.count, position: at, cache: cache,
                                       logits: index == schedulers.count - 1)
        }
        guard let logits else { throw ModelError.invalidBlockRange("the last shard returned no logits") }
        return logits
    }
}
