import Foundation
import Hummingbird
import PetalsModel

/// The OpenAI-compatible surface: POST /v1/chat/completions, POST /v1/completions, GET /v1/models.
extension HTTPAPI {
    func addOpenAIRoutes(to router: Router<BasicRequestContext>) {
        router.get("v1/models") { _, _ in self.models() }
        router.post("v1/chat/completions") { request, _ in await self.handle(request, self.chatCompletions) }
        router.post("v1/completions") { request, _ in await self.handle(request, self.completions) }
    }

    func models() -> Response {
        json(ModelList(data: [.init(id: service.modelName, created: OpenAIClock.startTime)]))
    }

    func chatCompletions(_ body: Data) async throws -> Response {
        let request = try decode(ChatCompletionRequest.self, body)
        guard !request.messages.isEmpty else { throw APIError(.badRequest, "messages must not be empty") }
        let maxNewTokens = try checkedMaxTokens(request.max_tokens, name: "max_tokens")
        let sampling = try openAISampling(temperature: request.temperature, topP: request.top_p, topK: request.top_k,
                                          repetitionPenalty: request.repetition_penalty, seed: request.seed)
        let prompt: String
        do {
            prompt = try service.chatPrompt(request.messages)
        } catch {
            throw APIError(.badRequest, "cannot render the chat: \(error)")
        }
        let id = "chatcmpl-" + OpenAIClock.randomID()
        let created = Int(Date().timeIntervalSince1970)
        let model = service.modelName

        guard request.stream == true else {
            let output = try await runGeneration(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling)
            let choice = Choice(message: .init(role: "assistant", content: output.text),
                                finish_reason: output.finishReason)
            return json(CompletionObject(id: id, object: "chat.completion", created: created, model: model,
                                         choices: [choice], usage: Usage(output)))
        }
        return eventStream { send in
            @Sendable func chunk(_ choice: Choice, usage: Usage? = nil) -> String {
                Self.encode(CompletionObject(id: id, object: "chat.completion.chunk", created: created,
                                             model: model, choices: [choice], usage: usage))
            }
            await send(chunk(Choice(delta: .init(role: "assistant", content: ""))))
            let output = try await self.runGeneration(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling) {
                await send(chunk(Choice(delta: .init(content: $0))))
            }
            await send(chunk(Choice(delta: .init(), finish_reason: output.finishReason), usage: Usage(output)))
        }
    }

    func completions(_ body: Data) async throws -> Response {
        let request = try decode(CompletionRequest.self, body)
        let maxNewTokens = try checkedMaxTokens(request.max_tokens, name: "max_tokens")
        let sampling = try openAISampling(temperature: request.temperature, topP: request.top_p, topK: request.top_k,
                                          repetitionPenalty: request.repetition_penalty, seed: request.seed)
        let prompt = request.prompt
        let id = "cmpl-" + OpenAIClock.randomID()
        let created = Int(Date().timeIntervalSince1970)
        let model = service.modelName

        guard request.stream == true else {
            let output = try await runGeneration(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling)
            return json(CompletionObject(id: id, object: "text_completion", created: created, model: model,
                                         choices: [Choice(text: output.text, finish_reason: output.finishReason)],
                                         usage: Usage(output)))
        }
        return eventStream { send in
            @Sendable func chunk(_ choice: Choice, usage: Usage? = nil) -> String {
                Self.encode(CompletionObject(id: id, object: "text_completion", created: created,
                                             model: model, choices: [choice], usage: usage))
            }
            let output = try await self.runGeneration(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling) {
                await send(chunk(Choice(text: $0)))
            }
            await send(chunk(Choice(text: "", finish_reason: output.finishReason), usage: Usage(output)))
        }
    }

    /// OpenAI defaults: temperature 1, top_p 1, no top-k.
    private func openAISampling(temperature: Double?, topP: Double?, topK: Int?, repetitionPenalty: Double?,
                                seed: UInt64?) throws -> SamplingParameters {
        try samplingParameters(temperature: temperature, topP: topP, topK: topK, repetitionPenalty: repetitionPenalty,
                               seed: seed, defaults: SamplingParameters(temperature: 1, topK: 0, topP: 1))
    }
}

/// Ids and timestamps of OpenAI objects.
enum OpenAIClock {
    static let startTime = Int(Date().timeIntervalSince1970)

    static func randomID() -> String {
        String(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24))
    }
}
