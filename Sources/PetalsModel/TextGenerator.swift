import Foundation

/// Why generation stopped.
public enum StopReason: String, Codable, Sendable {
    case endOfGeneration = "eos"
    case length
}

public struct GenerationResult: Sendable {
    public var promptTokens: [Int]
    public var tokens: [Int]
    public var text: String
    public var stopReason: StopReason
    public var prefillSeconds: Double
    public var decodeSeconds: Double

    public var decodeTokensPerSecond: Double {
        decodeSeconds > 0 ? Double(max(tokens.count - 1, 0)) / decodeSeconds : 0
    }
}

/// Prompt in, text out: tokenizes, runs an inference session token by token and samples.
public final class TextGenerator {
    public let tokenizer: BPETokenizer
    public let backend: InferenceBackend

    public init(tokenizer: BPETokenizer, backend: InferenceBackend) {
        self.tokenizer = tokenizer
        self.backend = backend
    }

    /// The prompt's token ids (with BOS when the model wants one).
    public func tokenize(_ prompt: String) -> [Int] {
        var ids = tokenizer.encode(prompt, parseSpecial: true)
        if tokenizer.addsBOS, let bos = tokenizer.bosTokenID { ids.insert(bos, at: 0) }
        return ids
    }

    /// Generates up to `maxNewTokens` tokens after `promptTokens`; `onText` receives each piece of
    /// text as soon as it forms complete UTF-8.
    /// `isCancelled` is checked before every step: once it returns true, generation stops with
    /// GenerationCancelled and the session (with its KV caches, here or on servers) is freed.
    public func generate(promptTokens: [Int], maxNewTokens: Int, sampling: SamplingParameters,
                         stopAtEndOfGeneration: Bool = true,
                         isCancelled: () -> Bool = { false },
                         onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        guard !promptTokens.isEmpty else { throw ModelError.emptyPrompt }
        let hp = backend.hyperparameters
        let needed = promptTokens.count + maxNewTokens
        guard needed <= hp.contextLength else {
            throw ModelError.contextFull(needed: needed, capacity: hp.contextLength)
        }
        var sampler = try Sampler(sampling)
        let session = try backend.openSession(capacity: needed)
        var decoder = IncrementalDecoder(tokenizer: tokenizer)
        var history = promptTokens
        var generated: [Int] = []
        var stop = StopReason.length

        let prefillStart = DispatchTime.now()
        if isCancelled() { throw GenerationCancelled(tokens: 0) }
        var logits = try session.step(promptTokens)
        let prefillEnd = DispatchTime.now()
        while generated.count < maxNewTokens {
            let next = sampler.sample(logits, history: history)
            if stopAtEndOfGeneration && tokenizer.isEndOfGeneration(next) {
                stop = .endOfGeneration
                break
            }
            generated.append(next)
            history.append(next)
            let piece = decoder.append(next)
            if !piece.isEmpty { onText(piece) }
            if generated.count == maxNewTokens { break }
            if isCancelled() { throw GenerationCancelled(tokens: generated.count) }
            logits = try session.step([next])
        }
        let tail = decoder.flush()
        if !tail.isEmpty { onText(tail) }
        let end = DispatchTime.now()
        return GenerationResult(
            promptTokens: promptTokens, tokens: generated, text: tokenizer.decode(generated),
            stopReason: stop,
            prefillSeconds: Double(prefillEnd.uptimeNanoseconds - prefillStart.uptimeNanoseconds) / 1e9,
            decodeSeconds: Double(end.uptimeNanoseconds - prefillEnd.uptimeNanoseconds) / 1e9)
    }
}

/// Generation stopped because its client went away; `tokens` were made before it noticed.
public struct GenerationCancelled: Error, Equatable, CustomStringConvertible {
    public let tokens: Int

    public init(tokens: Int) { self.tokens = tokens }

    public var description: String { "generation cancelled after \(tokens) tokens: the client went away" }
}
