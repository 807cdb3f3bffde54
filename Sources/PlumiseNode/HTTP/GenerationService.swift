import PetalsModel

/// A prompt as text (special-token texts inside its literal ranges, such as chat message
/// contents, are tokenized as text), or as token ids (OpenAI's token-id prompts; no BOS is added
/// to those).
public enum PromptInput: Sendable, Equatable {
    case text(PromptText)
    case tokens([Int])
}

/// One generation as the API asks for it.
public struct GenerationRequest: Sendable {
    public var prompt: PromptInput
    public var maxNewTokens: Int
    public var sampling: SamplingParameters
    /// Stop sequences and logprobs.
    public var options: GenerationOptions

    public init(prompt: PromptInput, maxNewTokens: Int, sampling: SamplingParameters,
                options: GenerationOptions = GenerationOptions()) {
        self.prompt = prompt
        self.maxNewTokens = maxNewTokens
        self.sampling = sampling
        self.options = options
    }
}

/// What one generation produced.
public struct GenerationOutput: Sendable, Equatable {
    /// The generated text (prompt excluded, cut before a stop sequence).
    public var text: String
    /// Tokens generated.
    public var tokens: Int
    /// Tokens in the prompt.
    public var promptTokens: Int
    /// Why generation stopped, in OpenAI's words: "stop" (end of generation or a stop
    /// sequence) or "length".
    public var finishReason: String
    /// The prompt as text (decoded when it came as token ids): what proofs hash.
    public var promptText: String
    /// Per generated token, when logprobs were asked for.
    public var logprobs: [TokenLogprob]

    public init(text: String, tokens: Int, promptTokens: Int, finishReason: String, promptText: String = "",
                logprobs: [TokenLogprob] = []) {
        self.text = text
        self.tokens = tokens
        self.promptTokens = promptTokens
        self.finishReason = finishReason
        self.promptText = promptText
        self.logprobs = logprobs
    }
}

/// The text generation the HTTP API serves: the local model, or a route over the swarm.
///
/// Generation is CPU-bound blocking work: implementations must run it off the caller's task
/// (``BlockingExecutor`` does that). Calls come concurrently, up to the API's concurrency limit
/// (a ``GenerationQueue``); the API validates the parameters.
public protocol GenerationService: Sendable {
    /// The model's name as shown by the API (e.g. in /v1/models and responses).
    var modelName: String { get }
    /// False while the model is loading; the API answers 503 then.
    var isReady: Bool { get }
    /// Runs `request`, calling `onText` with each piece of text as it forms (stop sequences
    /// already cut). Stops between two steps once the task is cancelled or `isConnected` returns
    /// false (the client hung up), throwing GenerationCancelled; its sessions are freed then.
    func generate(_ request: GenerationRequest, isConnected: @escaping @Sendable () -> Bool,
                  onText: @escaping @Sendable (String) async -> Void) async throws -> GenerationOutput
    /// The prompt for a chat in the model's own chat template (with the assistant turn opened),
    /// message contents marked as literal text.
    func chatPrompt(_ messages: [ChatMessage]) throws -> PromptText
    /// The bytes of token `id` (for logprobs), nil when there is no such token.
    func tokenBytes(_ id: Int) -> [UInt8]?
}

extension GenerationService {
    /// A generation whose client cannot hang up (it runs to the end).
    public func generate(_ request: GenerationRequest,
                         onText: @escaping @Sendable (String) async -> Void) async throws -> GenerationOutput {
        try await generate(request, isConnected: { true }, onText: onText)
    }

    /// A plain text generation.
    public func generate(prompt: String, maxNewTokens: Int, sampling: SamplingParameters,
                         onText: @escaping @Sendable (String) async -> Void) async throws -> GenerationOutput {
        try await generate(GenerationRequest(prompt: .text(PromptText(prompt)), maxNewTokens: maxNewTokens, sampling: sampling),
                           onText: onText)
    }
}

/// Errors a ``GenerationService`` may throw that the API maps to client errors.
public enum GenerationServiceError: Error, Equatable, CustomStringConvertible {
    /// The model is not loaded yet (HTTP 503).
    case notReady
    /// The request cannot be served as asked, e.g. the prompt does not fit the context (HTTP 400).
    case invalidRequest(String)
    /// Every place is taken and the wait queue is full (HTTP 503 with Retry-After).
    case busy(running: Int, waiting: Int, retryAfterSeconds: Int)

    public var description: String {
        switch self {
        case .notReady: return "the model is still loading"
        case .invalidRequest(let why): return why
        case .busy(let running, let waiting, let retryAfter):
            return "the node is busy: \(running) generations running and \(waiting) waiting; retry in \(retryAfter) s"
        }
    }
}
