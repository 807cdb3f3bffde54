import Foundation
import Hummingbird
import PetalsModel

/// POST /api/v1/generate: the node's own generation endpoint (the Plumise gateway's pipeline mode).
extension HTTPAPI {
    func generate(_ body: Data) async throws -> Response {
        let request = try decode(GenerateRequest.self, body)
        let p = request.parameters
        let maxNewTokens = try checkedMaxTokens(p?.max_new_tokens, name: "max_new_tokens")
        var sampling = try samplingParameters(temperature: p?.temperature, topP: p?.top_p, topK: p?.top_k,
                                              repetitionPenalty: p?.repetition_penalty, seed: p?.seed,
                                              defaults: SamplingParameters())
        if p?.do_sample == false {
            sampling.temperature = 0
        } else if p?.do_sample == true && p?.temperature == nil {
            sampling.temperature = 1
        }
        let prompt = request.inputs
        let chosen = sampling

        guard request.stream == true else {
            let output = try await runGeneration(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling)
            return json(GenerateResponse(generated_text: output.text, num_tokens: output.tokens,
                                         finish_reason: output.finishReason))
        }
        return eventStream { send in
            let output = try await self.runGeneration(prompt: prompt, maxNewTokens: maxNewTokens, sampling: chosen) {
                await send(Self.encode(GenerateTokenEvent(token: $0)))
            }
            await send(Self.encode(GenerateFinalEvent(generated_text: output.text, num_tokens: output.tokens,
                                                      prompt_tokens: output.promptTokens,
                                                      finish_reason: output.finishReason)))
        }
    }
}
