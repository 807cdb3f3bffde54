import Foundation
import Hummingbird
import PetalsModel

/// POST /api/v1/generate: the node's own generation endpoint (the Plumise gateway's pipeline mode).
extension HTTPAPI {
    func generate(_ body: Data, _ isConnected: @escaping @Sendable () -> Bool) async throws -> Response {
        let request = try decode(GenerateRequest.self, body)
        let p = request.parameters
        let maxNewTokens = try checkedMaxTokens(p?.max_new_tokens, name: "max_new_tokens")
        var sampling = try samplingParameters(temperature: p?.temperature, topP: p?.top_p, topK: p?.top_k,
                                              repetitionPenalty: p?.repetition_penalty,
                                              seed: p?.seed.flatMap { $0 == -1 ? nil : UInt64(bitPattern: $0) },
                                              defaults: SamplingParameters())
        if p?.do_sample == false {
            sampling.temperature = 0
        } else if p?.do_sample == true && p?.temperature == nil {
            sampling.temperature = 1
        }
        let stop = p?.stop?.sequences ?? []
        guard !stop.contains("") else { throw APIError(.badRequest, "stop sequences must not be empty") }
        let generation = GenerationRequest(prompt: .text(PromptText(request.inputs)), maxNewTokens: maxNewTokens, sampling: sampling,
                                           options: GenerationOptions(stop: stop))

        guard request.stream == true else {
            let output = try await runGeneration(generation, isConnected: isConnected)
            return json(GenerateResponse(generated_text: output.text, num_tokens: output.tokens,
                                         finish_reason: output.finishReason))
        }
        return await eventStream(style: .native) { send in
            let output = try await self.runGeneration(generation, isConnected: isConnected) {
                await send(Self.encode(GenerateTokenEvent(token: $0)))
            }
            await send(Self.encode(GenerateFinalEvent(generated_text: output.text, num_tokens: output.tokens,
                                                      prompt_tokens: output.promptTokens,
                                                      finish_reason: output.finishReason)))
        }
    }
}
