import PetalsModel

/// What one generation produced.
public struct GenerationOutput: Sendable, Equatable {
    /// The generated text (prompt excluded).
    public var text: String
    /// Tokens generated.
    public var tokens: Int
    /// Tokens in the prompt.
    public var promptTokens: Int
    /// Why generation stopped, in OpenAI's words: "stop" (end of generation) or "length".
    public var finishReason: String

    public init(text: String, tokens: Int, promptTokens: Int, finishReason: String) {
        self.text = text
        self.tokens = tokens
        self.promptTokens = promptTokens
        self.finishReason = finishReason
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
    /// Generates up to `maxNewTokens` tokens after `prompt`, calling `onText` with each piece of
    /// text as it forms.
    func generate(prompt: String, maxNewTokens: Int, sampling: SamplingParameters,
                  onText: @escaping @Sendable (String) async -> Void) async throws -> GenerationOutput
    /// As `generate`, but stops between two steps once `isConnected` returns false (the client
    /// hung up), throwing GenerationCancelled.
    func generate(prompt: String, maxNewTokens: Int, sampling: SamplingParameters,
                  isConnected: @escaping @Sendable () -> Bool,
                  onText: @escaping @Sendable (String) async -> Void) async throws -> GenerationOutput
    /// The prompt for a chat in the model's chat template (with the assistant turn opened).
    func chatPrompt(_ messages: [ChatMessage]) throws -> String
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

extension GenerationService {
    /// Services that cannot notice a hang-up run to the end.
    public func generate(prompt: String, maxNewTokens: Int, sampling: SamplingParameters,
                         isConnected: @escaping @Sendable () -> Bool,
                         onText: @escaping @Sendable (String) async -> Void) async throws -> GenerationOutput {
        try await generate(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling, onText: onText)
    }
}
