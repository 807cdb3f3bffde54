import Foundation

/// Why generation stopped.
public enum StopReason: String, Codable, Sendable {
    case endOfGeneration = "eos"
    case length
    /// One of the requested stop sequences appeared (it is cut from the text).
    case stopSequence = "stop"
}

/// What a generation does besides sampling: where it stops and what it reports per token.
public struct GenerationOptions: Sendable, Equatable {
    /// Generation ends at the first of these strings, which is not part of the output.
    public var stop: [String]
    /// Report each token's log-probability and this many alternatives (nil: none).
    public var logprobs: Int?
    public var stopAtEndOfGeneration: Bool

    public init(stop: [String] = [], logprobs: Int? = nil, stopAtEndOfGeneration: Bool = true) {
        self.stop = stop
        self.logprobs = logprobs
        self.stopAtEndOfGeneration = stopAtEndOfGeneration
    }
}

public struct GenerationResult: Sendable {
    public var promptTokens: [Int]
    public var tokens: [Int]
    public var text: String
    public var stopReason: StopReason
    public var prefillSeconds: Double
    public var decodeSeconds: Double
    /// One entry per generated token when logprobs were asked for.
    public var logprobs: [TokenLogprob] = []

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

    /// The prompt's token ids, with BOS first when the model wants one (once: a chat template
    /// that writes `bos_token` itself, as Gemma's and Llama 3's do, does not get a second, as
    /// with Hugging Face's apply_chat_template and llama.cpp's server).
    public func tokenize(_ prompt: PromptText) -> [Int] {
        var ids = tokenizer.encode(prompt, parseSpecial: true)
        if tokenizer.addsBOS, let bos = tokenizer.bosTokenID, ids.first != bos { ids.insert(bos, at: 0) }
        return ids
    }

    public func tokenize(_ prompt: String) -> [Int] { tokenize(PromptText(prompt)) }

    /// Generates up to `maxNewTokens` tokens after `promptTokens`; `onText` receives each piece of
    /// text as soon as it forms complete UTF-8.
    /// `isCancelled` is checked before every step: once it returns true, generation stops with
    /// GenerationCancelled and the session (with its KV caches, here or on servers) is freed.
    public func generate(promptTokens: [Int], maxNewTokens: Int, sampling: SamplingParameters,
                         stopAtEndOfGeneration: Bool = true,
                         isCancelled: () -> Bool = { false },
                         onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        try generate(promptTokens: promptTokens, maxNewTokens: maxNewTokens, sampling: sampling,
                     options: GenerationOptions(stopAtEndOfGeneration: stopAtEndOfGeneration), isCancelled: isCancelled,
                     onText: onText)
    }

    /// Generates as above, stopping at `options.stop` (cut from the text, and held back while
    /// streaming until it can no longer begin a stop) and recording logprobs when asked.
    public func generate(promptTokens: [Int], maxNewTokens: Int, sampling: SamplingParameters,
                         options: GenerationOptions, isCancelled: () -> Bool = { false },
                         onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        guard !promptTokens.isEmpty else { throw ModelError.emptyPrompt }
        let hp = backend.hyperparameters
        let needed = promptTokens.count + maxNewTokens
        guard needed <= hp.contextLength else {
            throw ModelError.contextFull(needed: needed, capacity: hp.contextLength)
        }
        // Before a session is opened: a bad id must not cost a route.
        for id in promptTokens where id < 0 || id >= hp.vocabularySize {
            throw ModelError.tokenOutOfRange(id, vocabularySize: hp.vocabularySize)
        }
        var sampler = try Sampler(sampling)
        let session = try backend.openSession(capacity: needed)
        var decoder = IncrementalDecoder(tokenizer: tokenizer)
        var stops = StopSequences(options.stop)
        var history = promptTokens
        var generated: [Int] = []
        var logprobs: [TokenLogprob] = []
        var released = ""
        var stop = StopReason.length
        func emit(_ piece: String) {
            let out = stops.isEmpty ? piece : stops.append(piece)
            guard !out.isEmpty else { return }
            released += out
            onText(out)
        }

        let prefillStart = DispatchTime.now()
        if isCancelled() { throw GenerationCancelled(tokens: 0) }
        var logits = try session.step(promptTokens)
        let prefillEnd = DispatchTime.now()
        while generated.count < maxNewTokens {
            let next = sampler.sample(logits, history: history)
            if options.stopAtEndOfGeneration && tokenizer.isEndOfGeneration(next) {
                stop = .endOfGeneration
                break
            }
            if let top = options.logprobs { logprobs.append(TokenLogprob(token: next, logits: logits, top: top)) }
            generated.append(next)
            history.append(next)
            emit(decoder.append(next))
            if stops.stopped {
                stop = .stopSequence
                break
            }
            if generated.count == maxNewTokens { break }
            if isCancelled() { throw GenerationCancelled(tokens: generated.count) }
            logits = try session.step([next])
        }
        if !stops.stopped {
            emit(decoder.flush())
            let tail = stops.flush()
            if !tail.isEmpty {
                released += tail
                onText(tail)
            }
        }
        let end = DispatchTime.now()
        return GenerationResult(
            promptTokens: promptTokens, tokens: generated,
            text: stops.isEmpty ? tokenizer.decode(generated) : released,
            stopReason: stop,
            prefillSeconds: Double(prefillEnd.uptimeNanoseconds - prefillStart.uptimeNanoseconds) / 1e9,
            decodeSeconds: Double(end.uptimeNanoseconds - prefillEnd.uptimeNanoseconds) / 1e9,
            logprobs: logprobs)
    }
}

/// Generation stopped because its client went away; `tokens` were made before it noticed.
public struct GenerationCancelled: Error, Equatable, CustomStringConvertible {
    public let tokens: Int

    public init(tokens: Int) { self.tokens = tokens }

    public var description: String { "generation cancelled after \(tokens) tokens: the client went away" }
}
