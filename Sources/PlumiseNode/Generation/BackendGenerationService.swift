import Foundation
import PetalsModel

/// Text generation over an inference backend (this node's shards, or a route over the swarm).
/// Each generation runs on a thread of its own, so the HTTP server's event loops never block
/// and concurrent generations reach the shards' schedulers together (and are batched there).
public final class BackendGenerationService: GenerationService, @unchecked Sendable {
    public let modelName: String
    private let generator: TextGenerator
    /// The model's chat template, or why chats cannot be rendered: a model without a supported
    /// template still serves plain prompts (/api/v1/generate, /v1/completions).
    private let template: Result<ChatTemplate, any Error>
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

    public func tokenBytes(_ id: Int) -> [UInt8]? {
        generator.tokenizer.tokenText(id) == nil ? nil : generator.tokenizer.tokenBytes(id)
    }

    public func generate(_ request: GenerationRequest, isConnected connected: @escaping @Sendable () -> Bool,
                         onText: @escaping @Sendable (String) async -> Void) async throws -> GenerationOutput {
        let generator = self.generator
        let cancelled = OneWayFlag()
        return try await withTaskCancellationHandler {
            try await executor.run(onText: onText) { emit in
                let tokens: [Int]
                switch request.prompt {
                case .text(let text): tokens = generator.tokenize(text)
                case .tokens(let ids): tokens = ids
                }
                guard !tokens.isEmpty else { throw GenerationServiceError.invalidRequest("the prompt is empty") }
                let limit = generator.backend.hyperparameters.contextLength
                guard tokens.count + request.maxNewTokens <= limit else {
                    throw GenerationServiceError.invalidRequest(
                        "prompt (\(tokens.count) tokens) + max_new_tokens (\(request.maxNewTokens)) exceeds the context of \(limit)")
                }
                let result = try generator.generate(promptTokens: tokens, maxNewTokens: request.maxNewTokens,
                                                    sampling: request.sampling, options: request.options,
                                                    isCancelled: { cancelled.isSet || !connected() }, onText: emit)
                let promptText: String
                switch request.prompt {
                case .text(let text): promptText = text.text
                case .tokens(let ids): promptText = generator.tokenizer.decode(ids)
                }
                return GenerationOutput(text: result.text, tokens: result.tokens.count, promptTokens: tokens.count,
                                        finishReason: result.stopReason == .length ? "length" : "stop",
                                        promptText: promptText, logprobs: result.logprobs)
            }
        } onCancel: {
            cancelled.set()
        }
    }
}
