import CKernels
import Foundation

/// How the next token is chosen. Temperature 0 (or doSample false) is greedy decoding.
public struct SamplingParameters: Equatable, Sendable {
    public var temperature: Float = 0
    public var topK: Int = 40
    public var topP: Float = 0.95
    /// Penalty > 1 discourages tokens among the last `repeatLastN` (CTRL-style: positive logits
    /// are divided by it, negative ones multiplied).
    public var repetitionPenalty: Float = 1
    public var repeatLastN: Int = 64
    /// OpenAI's presence penalty: subtracted once from the logit of every token among the last
    /// `repeatLastN` (-2...2).
    public var presencePenalty: Float = 0
    /// OpenAI's frequency penalty: subtracted from a token's logit once per time it appears
    /// among the last `repeatLastN` (-2...2).
    public var frequencyPenalty: Float = 0
    /// Added to the logits of these token ids before sampling (OpenAI's logit_bias, -100...100).
    public var logitBias: [Int: Float] = [:]
    public var seed: UInt64?

    public init(temperature: Float = 0, topK: Int = 40, topP: Float = 0.95, repetitionPenalty: Float = 1,
                repeatLastN: Int = 64, presencePenalty: Float = 0, frequencyPenalty: Float = 0,
                logitBias: [Int: Float] = [:], seed: UInt64? = nil) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        self.repeatLastN = repeatLastN
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.logitBias = logitBias
        self.seed = seed
    }

    public var isGreedy: Bool { temperature <= 0 }

    /// Rejects values no sampler can honour, naming the parameter.
    public func validate() throws {
        func bad(_ why: String) -> SamplingError { .invalidParameter(why) }
        guard temperature.isFinite, temperature >= 0 else { throw bad("temperature must be >= 0, got \(temperature)") }
        guard topK >= 0 else { throw bad("top_k must be >= 0 (0 disables it), got \(topK)") }
        guard topP > 0, topP <= 1 else { throw bad("top_p must be in (0, 1], got \(topP)") }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else {
            throw bad("repetition_penalty must be > 0, got \(repetitionPenalty)")
        }
        guard repeatLastN >= 0 else { throw bad("repeat_last_n must be >= 0, got \(repeatLastN)") }
        guard presencePenalty.isFinite, (-2...2).contains(presencePenalty) else {
            throw bad("presence_penalty must be in -2...2, got \(presencePenalty)")
        }
        guard frequencyPenalty.isFinite, (-2...2).contains(frequencyPenalty) else {
            throw bad("frequency_penalty must be in -2...2, got \(frequencyPenalty)")
        }
        for (token, bias) in logitBias {
            guard token >= 0 else { throw bad("logit_bias names token \(token), token ids are >= 0") }
            guard bias.isFinite, (-100...100).contains(bias) else {
                throw bad("logit_bias for token \(token) must be in -100...100, got \(bias)")
            }
        }
    }
}

public enum SamplingError: Error, CustomStringConvertible, LocalizedError, Equatable {
    case invalidParameter(String)
    public var description: String {
        switch self { case .invalidParameter(let why): return "invalid sampling parameter: \(why)" }
    }
    public var errorDescription: String? { description }
}

/// xoshiro256** seeded through SplitMix64: small, fast and reproducible across platforms.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var z = seed
        func splitMix() -> UInt64 {
            z &+= 0x9E37_79B9_7F4A_7C15
            var x = z
            x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
            return x ^ (x >> 31)
        }
        s = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }
}

/// Chooses tokens from logits according to SamplingParameters.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var rng: SeededGenerator

    public init(_ parameters: SamplingParameters) throws {
        try parameters.validate()
        self.parameters = parameters
        rng = SeededGenerator(seed: parameters.seed ?? UInt64.random(in: .min ... .max))
    }

    /// The next token given the logits and the tokens so far (prompt and generated).
    public mutating func sample(_ logits: [Float], history: [Int]) -> Int {
        var logits = logits
        applyRepetitionPenalty(&logits, history: history)
        applyPresenceAndFrequency(&logits, history: history)
        for (token, bias) in parameters.logitBias where token < logits.count { logits[token] += bias }
        if parameters.isGreedy { return Self.argmax(logits) }

        // Candidates sorted by logit, cut to top-k, then softmax and the top-p nucleus.
        var candidates = logits.indices.map { ($0, logits[$0] / parameters.temperature) }
        let k = parameters.topK > 0 ? min(parameters.topK, candidates.count) : candidates.count
        candidates = Self.largest(candidates, count: k)
        let maxLogit = candidates[0].1
        var probabilities = candidates.map { exp(Double($0.1 - maxLogit)) }
        let total = probabilities.reduce(0, +)
        probabilities = probabilities.map { $0 / total }
        var kept = 0
        var cumulative = 0.0
        repeat {
            cumulative += probabilities[kept]
            kept += 1
        } while kept < probabilities.count && cumulative < Double(parameters.topP)
        let draw = Double.random(in: 0..<cumulative, using: &rng)
        var acc = 0.0
        for i in 0..<kept {
            acc += probabilities[i]
            if draw < acc { return candidates[i].0 }
        }
        return candidates[kept - 1].0
    }

    private func applyRepetitionPenalty(_ logits: inout [Float], history: [Int]) {
        let penalty = parameters.repetitionPenalty
        guard penalty != 1, parameters.repeatLastN > 0 else { return }
        for token in Set(history.suffix(parameters.repeatLastN)) where token >= 0 && token < logits.count {
            logits[token] = logits[token] > 0 ? logits[token] / penalty : logits[token] * penalty
        }
    }

    /// OpenAI's penalties: logit -= presence (once) + frequency × count, over the recent tokens.
    private func applyPresenceAndFrequency(_ logits: inout [Float], history: [Int]) {
        guard parameters.presencePenalty != 0 || parameters.frequencyPenalty != 0, parameters.repeatLastN > 0 else { return }
        var counts: [Int: Int] = [:]
        for token in history.suffix(parameters.repeatLastN) where token >= 0 && token < logits.count {
            counts[token, default: 0] += 1
        }
        for (token, count) in counts {
            logits[token] -= parameters.presencePenalty + parameters.frequencyPenalty * Float(count)
        }
    }

    /// Index of the largest value; the lowest index wins ties (as llama.cpp's greedy sampler), a
    /// NaN only at index 0 (ck_argmax: a scan keeping the first strictly larger value).
    public static func argmax(_ values: [Float]) -> Int {
        values.withUnsafeBufferPointer { Int(ck_argmax($0.baseAddress, Int64($0.count))) }
    }

    /// The `count` largest (index, value) pairs, largest first.
    static func largest(_ items: [(Int, Float)], count: Int) -> [(Int, Float)] {
        if count >= items.count / 4 {
            return Array(items.sorted { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }.prefix(count))
        }
        // Selection of a small k without sorting the whole vocabulary.
        var top: [(Int, Float)] = []
        top.reserveCapacity(count + 1)
        for item in items where top.count < count || item.1 > top[top.count - 1].1 {
            let at = top.firstIndex { item.1 > $0.1 } ?? top.count
            top.insert(item, at: at)
            if top.count > count { top.removeLast() }
        }
        return top
    }
}
