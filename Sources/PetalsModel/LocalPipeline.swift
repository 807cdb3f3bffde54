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

/// Shards in this process that together cover every block, run one after another.
public final class LocalPipeline: InferenceBackend {
    public let shards: [ModelShard]
    public var hyperparameters: ModelHyperparameters { shards[0].hp }

    /// `shards` must chain [0, a), [a, b), ... up to the model's block count.
    public init(shards: [ModelShard]) throws {
        guard let first = shards.first else { throw ModelError.invalidBlockRange("no shards") }
        let blockCount = first.hp.blockCount
        let missing = BlockRange.missing(from: shards.map(\.blocks), blockCount: blockCount)
        guard missing.isEmpty else { throw ModelError.blocksNotCovered(missing: missing, blockCount: blockCount) }
        for (a, b) in zip(shards, shards.dropFirst()) where a.blocks.upperBound != b.blocks.lowerBound {
            throw ModelError.invalidBlockRange("shards [\(a.blocks.lowerBound), \(a.blocks.upperBound)) and [\(b.blocks.lowerBound), \(b.blocks.upperBound)) do not chain")
        }
        self.shards = shards
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

    public func openSession(capacity: Int) throws -> InferenceSession {
        LocalSession(shards: shards, capacity: capacity)
    }
}

final class LocalSession: InferenceSession {
    private let shards: [ModelShard]
    private let caches: [KVCache]

    init(shards: [ModelShard], capacity: Int) {
        self.shards = shards
        caches = shards.map { $0.makeCache(capacity: capacity) }
    }

    var position: Int { caches[0].count }

    func step(_ tokens: [Int]) throws -> [Float] {
        guard !tokens.isEmpty else { throw ModelError.emptyPrompt }
        let hidden = try shards[0].embed(tokens, at: position)
        for (shard, cache) in zip(shards, caches) {
            try shard.forward(hidden, nTok: tokens.count, cache: cache)
        }
        return try shards[shards.count - 1].logits(hidden, row: tokens.count - 1)
    }
}
