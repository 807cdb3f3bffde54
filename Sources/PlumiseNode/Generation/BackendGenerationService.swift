import Foundation
import PetalsModel

/// Text generation over an inference backend (this node's shards, or a route over the swarm),
/// run on a dedicated thread so the HTTP server's event loops never block.
public final class BackendGenerationService: GenerationService, @unchecked Sendable {
    public let modelName: String
    private let generator: TextGenerator
    /// The model's chat template, or why it cannot be used: plain prompts are served either way,
    /// chats are refused with the reason (no template, or the construct it uses that the Jinja
    /// subset does not implement).
    private let template: Result<ChatTemplate, Error>
    private let executor = BlockingExecutor()

    public var isReady: Bool { true }

    public init(modelName: String, tokenizer: BPETokenizer, backend: InferenceBackend, chatTemplate: String?) throws {
        self.modelName = modelName
        generator = TextGenerator(tokenizer: tokenizer, backend: backend)
        template = Result {
            try ChatTemplate(template: chatTemplate, architecture: backend.hyperparameters.architecture.rawValue,
                             tokenizer: tokenizer)
        }
    }

    public func chatPrompt(_ messages: [ChatMessage]) throws -> PromptText {
        try template.get().render(messages)
    }

    public func generate(prompt: PromptText, maxNewTokens: Int, sampling: SamplingParameters,
                         onText: @escaping @Sendable (String) async -> Void) async throws -> GenerationOutput {
        let generator = self.generator
        return try await executor.run(onText: onText) { emit in
            let tokens = generator.tokenize(prompt)
            guard !tokens.isEmpty else { throw GenerationServiceError.invalidRequest("the prompt is empty") }
            let limit = generator.backend.hyperparameters.contextLength
            guard tokens.count + maxNewTokens <= limit else {
                throw GenerationServiceError.invalidRequest(
                    "prompt (\(tokens.count) tokens) + max_new_tokens (\(maxNewTokens)) exceeds the context of \(limit)")
            }
            let result = try generator.generate(promptTokens: tokens, maxNewTokens: maxNewTokens, sampling: sampling,
                                                onText: emit)
            return GenerationOutput(text: result.text, tokens: result.tokens.count, promptTokens: tokens.count,
                                    finishReason: result.stopReason == .endOfGeneration ? "stop" : "length")
        }
    }
}
