import Foundation
import PetalsModel
import PluginAPI

/// Batched decode of the whole model in this process: B sequences (each with a prompt of its
/// own) advance one token per step through `ModelShard.forward(_:batch:)` and one logits
/// product, as a shard's StepScheduler runs them. Aggregate tokens/s against B = 1 is what
/// continuous batching can give at most, before HTTP, sampling threads and scheduling.
enum BatchBench {
    struct Row: Codable {
        var sequences: Int
        var tokensPerSecond: Double
        var stepP50Ms: Double
        var speedupOverOne: Double
        /// With --phases: the median step's wall time per part, ms (StepPhases.Phase names).
        var phasesMs: [String: Double]?
    }

    static func run(host: PluginHost, model: String, pool: ComputePool, batchSizes: [Int], promptLength: Int,
                    decodeTokens: Int, repetitions: Int, phases: Bool = false, log: (String) -> Void) throws -> [Row] {
        let maxRows = batchSizes.max() ?? 1
        let shard = try ModelShard(model: host.openModel(path: model), pool: pool, maxBatch: 64,
                                   batchRows: max(256, maxRows), cacheTokens: maxRows * (promptLength + decodeTokens + 16))
        let vocabulary = shard.hp.vocabularySize
        var rows: [Row] = []
        let clock = phases ? StepPhases() : nil
        for size in batchSizes {
            var rates: [Double] = []
            var steps: [Double] = []
            var parts: [[Double]] = [] // per measured step, one value per phase
            for repetition in 0...repetitions { // the first is a warm-up
                let caches = try (0..<size).map { _ in try shard.openCache(capacity: promptLength + decodeTokens + 1) }
                var next: [Int] = []
                for (index, cache) in caches.enumerated() {
                    let prompt = ModelBench.tokens(promptLength, vocabulary: vocabulary).map { ($0 + index * 31) % vocabulary }
                    let hidden = try shard.embed(prompt, at: 0)
                    try shard.forward(hidden, nTok: promptLength, cache: cache)
                    next.append(Sampler.argmax(try shard.logits(hidden, row: promptLength - 1)))
                }
                var run: [Double] = []
                for _ in 0..<decodeTokens {
                    clock?.reset()
                    shard.phases = clock
                    defer { shard.phases = nil }
                    run.append(try timed {
                        let hidden = FloatBuffer(count: size * shard.hp.embedding)
                        for (index, token) in next.enumerated() {
                            let row = try shard.embed([token], at: caches[index].count)
                            (hidden.pointer + index * shard.hp.embedding).update(from: row.pointer, count: shard.hp.embedding)
                        }
                        try shard.forward(hidden, batch: caches.map { SequenceRows(cache: $0, rows: 1) })
                        let logits = try shard.logits(hidden, rows: Array(0..<size))
                        next = logits.map { Sampler.argmax($0) }
                    })
                    if let clock, repetition > 0 { parts.append(StepPhases.Phase.allCases.map { clock.milliseconds($0) }) }
                }
                if repetition > 0 {
                    steps += run
                    rates.append(Double(size * decodeTokens) / run.reduce(0, +))
                }
            }
            let rate = median(rates)
            let one = rows.first { $0.sequences == 1 }?.tokensPerSecond ?? (size == 1 ? rate : .nan)
            var phaseMedians: [String: Double]?
            if clock != nil {
                phaseMedians = Dictionary(uniqueKeysWithValues: StepPhases.Phase.allCases.map { phase in
                    (phase.name, median(parts.map { $0[phase.rawValue] }))
                })
            }
            rows.append(Row(sequences: size, tokensPerSecond: rate, stepP50Ms: percentile(steps, 50) * 1000,
                            speedupOverOne: rate / one, phasesMs: phaseMedians))
            log(String(format: "  %3d sequences  %8.1f tok/s  step p50 %7.2f ms  %5.2fx one sequence", size, rate,
                       percentile(steps, 50) * 1000, rate / one))
            if let phaseMedians {
                log("      median ms: " + StepPhases.Phase.allCases.map { String(format: "%@ %.2f", $0.name, phaseMedians[$0.name]!) }
                    .joined(separator: ", "))
            }
        }
        return rows
    }
}
