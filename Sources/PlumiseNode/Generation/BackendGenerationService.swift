import Foundation
import PetalsModel

/// Text generation over an inference backend (this node's shards, or a route over the swarm).
/// Each generation runs on a thread of its own, so the HTTP server's event loops never block
/// and concurrent generations reach the shards' schedulers together (and are batched there).
public final class BackendGenerationService: GenerationService, @unchecked Sendable {
    public let modelName: String
    private let generator: TextGenerator
    private let template: ChatTemplate
    private let executor = BlockingExecutor()

    public var isReady: Bool { true }

    public init(modelName: String, tokenizer: BPETokenizer, backend: InferenceBackend, chatTemplate: String?) throws {
        self.modelName = modelName
        generator = TextGenerator(tokenizer: tokenizer, backend: backend)
        template = try ChatTemplate(template: chatTemplate)
    }

    public func chatPrompt(_ messages: [ChatMessage]) throws -> String {
        try template.render(messages)
    }

    public func generate(prompt: String, maxNewTokens: Int, sampling: SamplingParameters,
                         onText: @escaping @Sendable (String) async -> Void) async throws -> GenerationOutput {
        try await generate(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling, isConnected: { true },
                           onText: onText)
    }

    /// Stops between two steps once the task is cancelled or `isConnected` says the client's
    /// connection closed, throwing GenerationCancelled; its sessions are freed then.
    public func generate(prompt: String, maxNewTokens: Int, sampling: SamplingParameters,
                         isConnected connected: @escaping @Sendable () -> Bool,
                         onText: @escaping @Sendable (String) async -> Void) async throws -> GenerationOutput {
        let generator = self.generator
        let cancelled = OneWayFlag()
        return try await withTaskCancellationHandler {
            try await executor.run(onText: onText) { emit in
                let tokens = generator.tokenize(prompt)
                guard !tokens.isEmpty else { throw GenerationServiceError.invalidRequest("the prompt is empty") }
                let limit = generator.backend.hyperparameters.contextLength
                guard tokens.count + maxNewTokens <= limit else {
                    throw GenerationServiceError.invalidRequest(
                        "prompt (\(tokens.count) tokens) + max_new_tokens (\(maxNewTokens)) exceeds the context of \(limit)")
                }
                let result = try generator.generate(promptTokens: tokens, maxNewTokens: maxNewTokens, sampling: sampling,
                                                    isCancelled: { cancelled.isSet || !connected() }, onText: emit)
                return GenerationOutput(text: result.text, tokens: result.tokens.count, promptTokens: tokens.count,
                                        finishReason: result.stopReason == .endOfGeneration ? "stop" : "length")
            }
        } onCancel: {
            cancelled.set()
        }
    }
}
