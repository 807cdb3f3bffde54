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
/// (``BlockingExecutor`` does that). The API already serialises calls up to its concurrency
/// limit and validates the parameters.
public protocol GenerationService: Sendable {
    /// The model's name as shown by the API (e.g. in /v1/models and responses).
    var modelName: String { get }
    /// False while the model is loading; the API answers 503 then.
    var isReady: Bool { get }
    /// Generates up to `maxNewTokens` tokens after `prompt`, calling `onText` with each piece of
    /// text as it forms. Special-token texts in `prompt.literalRanges` are tokenized as text.
    func generate(prompt: PromptText, maxNewTokens: Int, sampling: SamplingParameters,
                  onText: @escaping @Sendable (String) async -> Void) async throws -> GenerationOutput
    /// The prompt for a chat in the model's own chat template (with the assistant turn opened),
    /// message contents marked as literal text.
    func chatPrompt(_ messages: [ChatMessage]) throws -> PromptText
}

/// Errors a ``GenerationService`` may throw that the API maps to client errors.
public enum GenerationServiceError: Error, Equatable, CustomStringConvertible {
    /// The model is not loaded yet (HTTP 503).
    case notReady
    /// The request cannot be served as asked, e.g. the prompt does not fit the context (HTTP 400).
    case invalidRequest(String)

    public var description: String {
        switch self {
        case .notReady: return "the model is still loading"
        case .invalidRequest(let why): return why
        }
    }
}
