import Foundation
import PetalsModel

/// Stands in for the real generation service while the model loads, so the HTTP API can listen
/// from the start: /health says "loading" and generation answers 503 until `finishLoading`.
public final class LoadingGenerationService: GenerationService, @unchecked Sendable {
    public let modelName: String
    private let lock = NSLock()
    private var loaded: (any GenerationService)?

    public init(modelName: String) { self.modelName = modelName }

    /// Hands over to the loaded service; from now on every call goes to it.
    public func finishLoading(_ service: any GenerationService) { lock.withLock { loaded = service } }

    private var service: any GenerationService {
        get throws {
            guard let service = lock.withLock({ loaded }) else { throw GenerationServiceError.notReady }
            return service
        }
    }

    public var isReady: Bool { lock.withLock { loaded != nil } }

    public func generate(_ request: GenerationRequest, isConnected: @escaping @Sendable () -> Bool,
                         onText: @escaping @Sendable (String) async -> Void) async throws -> GenerationOutput {
        try await service.generate(request, isConnected: isConnected, onText: onText)
    }

    public func chatPrompt(_ messages: [ChatMessage]) throws -> PromptText { try service.chatPrompt(messages) }

    public func tokenBytes(_ id: Int) -> [UInt8]? { (try? service)?.tokenBytes(id) }
}
