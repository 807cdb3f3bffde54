import Foundation
import PetalsModel

/// Prefill and decode speed of a whole model (tokens in, logits out) or of one block range
/// (hidden states in and out, as a shard server runs it).
enum ModelBench {
    struct Result: Codable {
        var model: String
        var blocks: String
        var threads: Int
        var prefillTokensPerSecond: [String: Double]
        var decodeTokensPerSecond: Double
        var decodeTokens: Int
        var tokenLatencyP50Ms: Double
        var tokenLatencyP99Ms: Double
        var peakRSSBytes: Int
    }

    /// A fixed, valid token sequence (no special tokens) of length n.
    static func tokens(_ n: Int, vocabulary: Int) -> [Int] {
        (0..<n).map { 300 + ($0 * 7919) % max(vocabulary - 1000, 1) }
    }

    /// Whole-model speed through any backend: in this process, or across shard servers.
    static func run(pipeline: InferenceBackend, modelName: String, promptLengths: [Int], decodeTokens: Int,
                    repetitions: Int, threads: Int, log: (String) -> Void) throws -> Result {
        let hp = pipeline.hyperparameters
        let capacity = (promptLengths.max() ?? 0) + decodeTokens + 1
        var prefill: [String: Double] = [:]
        for length in promptLengths {
            let input = tokens(length, vocabulary: hp.vocabularySize)
            // One untimed run first, as llama-bench warms up: the first batch of a size grows
            // scratch buffers and faults in cache pages.
            _ = try pipeline.openSession(capacity: capacity).step(input)
            let runs = try (0..<repetitions).map { _ -> Double in
                let session = try pipeline.openSession(capacity: capacity)
                return try timed { _ = try session.step(input) }
            }
            prefill["pp\(length)"] = Double(length) / median(runs)
            log(String(format: "  pp%-4d %8.1f tok/s", length, prefill["pp\(length)"]!))
        }
        var latencies: [Double] = []
        var rates: [Double] = []
        let warmUp = try pipeline.openSession(capacity: capacity)
        for token in tokens(min(decodeTokens, 8), vocabulary: hp.vocabularySize) { _ = try warmUp.step([token]) }
        for _ in 0..<repetitions {
            let session = try pipeline.openSession(capacity: capacity)
            var logits = try session.step([tokens(1, vocabulary: hp.vocabularySize)[0]])
            var run: [Double] = []
            for _ in 0..<decodeTokens {
                let next = Sampler.argmax(logits)
                run.append(try timed { logits = try session.step([next]) })
            }
            latencies += run
            rates.append(Double(decodeTokens) / run.reduce(0, +))
        }
        let decode = median(rates)
        log(String(format: "  tg%-4d %8.1f tok/s   latency p50 %.2f ms  p99 %.2f ms", decodeTokens, decode,
                   percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000))
        return Result(model: modelName, blocks: "0:\(hp.blockCount)", threads: threads,
                      prefillTokensPerSecond: prefill, decodeTokensPerSecond: decode, decodeTokens: decodeTokens,
                      tokenLatencyP50Ms: percentile(latencies, 50) * 1000,
                      tokenLatencyP99Ms: percentile(latencies, 99) * 1000,
                      peakRSSBytes: residentMemory().peak)
    }

    /// The same measurements for a single shard fed synthetic hidden states.
    static func runShard(_ shard: ModelShard, modelName: String, promptLengths: [Int], decodeTokens: Int,
                         repetitions: Int, threads: Int, log: (String) -> Void) throws -> Result {
        let e = shard.hp.embedding
        let capacity = (promptLengths.max() ?? 0) + decodeTokens + 1
        func hidden(_ n: Int) -> FloatBuffer {
            let buffer = FloatBuffer(count: n * e)
            for i in 0..<buffer.count { buffer[i] = Float((i * 2654435761) % 1000) / 1000 - 0.5 }
            return buffer
        }
        var prefill: [String: Double] = [:]
        for length in promptLengths {
            try shard.forward(hidden(length), nTok: length, cache: shard.makeCache(capacity: capacity)) // warm-up
            let runs = try (0..<repetitions).map { _ -> Double in
                let cache = shard.makeCache(capacity: capacity)
                let input = hidden(length)
                return try timed { try shard.forward(input, nTok: length, cache: cache) }
            }
            prefill["pp\(length)"] = Double(length) / median(runs)
            log(String(format: "  pp%-4d %8.1f tok/s", length, prefill["pp\(length)"]!))
        }
        var latencies: [Double] = []
        var rates: [Double] = []
        let warmUp = shard.makeCache(capacity: capacity)
        for _ in 0..<min(decodeTokens, 8) { try shard.forward(hidden(1), nTok: 1, cache: warmUp) }
        for _ in 0..<repetitions {
            let cache = shard.makeCache(capacity: capacity)
            var run: [Double] = []
            for _ in 0..<decodeTokens {
                let input = hidden(1)
                run.append(try timed { try shard.forward(input, nTok: 1, cache: cache) })
            }
            latencies += run
            rates.append(Double(decodeTokens) / run.reduce(0, +))
        }
        let decode = median(rates)
        log(String(format: "  tg%-4d %8.1f tok/s   latency p50 %.2f ms  p99 %.2f ms", decodeTokens, decode,
                   percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000))
        return Result(model: modelName, blocks: "\(shard.blocks.lowerBound):\(shard.blocks.upperBound)", threads: threads,
                      prefillTokensPerSecond: prefill, decodeTokensPerSecond: decode, decodeTokens: decodeTokens,
                      tokenLatencyP50Ms: percentile(latencies, 50) * 1000,
                      tokenLatencyP99Ms: percentile(latencies, 99) * 1000,
                      peakRSSBytes: residentMemory().peak)
    }
}
