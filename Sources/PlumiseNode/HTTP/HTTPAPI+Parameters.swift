import PetalsModel

/// Request parameters shared by the native and the OpenAI endpoints, checked with messages that
/// name the parameter.
extension HTTPAPI {
    func checkedMaxTokens(_ value: Int?, name: String) throws -> Int {
        let count = value ?? min(configuration.defaultMaxNewTokens, configuration.maxNewTokensLimit)
        guard count >= 1, count <= configuration.maxNewTokensLimit else {
            throw APIError(.badRequest, "\(name) must be in 1...\(configuration.maxNewTokensLimit), got \(count)")
        }
        return count
    }

    func samplingParameters(temperature: Double?, topP: Double?, topK: Int?, repetitionPenalty: Double?,
                            seed: UInt64?, defaults: SamplingParameters) throws -> SamplingParameters {
        var s = defaults
        if let temperature {
            guard temperature.isFinite, temperature >= 0 else {
                throw APIError(.badRequest, "temperature must be >= 0, got \(temperature)")
            }
            s.temperature = Float(temperature)
        }
        if let topP {
            guard topP > 0, topP <= 1 else { throw APIError(.badRequest, "top_p must be in (0, 1], got \(topP)") }
            s.topP = Float(topP)
        }
        if let topK {
            guard topK >= 0 else { throw APIError(.badRequest, "top_k must be >= 0, got \(topK)") }
            s.topK = topK
        }
        if let repetitionPenalty {
            guard repetitionPenalty.isFinite, repetitionPenalty > 0 else {
                throw APIError(.badRequest, "repetition_penalty must be > 0, got \(repetitionPenalty)")
            }
            s.repetitionPenalty = Float(repetitionPenalty)
        }
        if let seed { s.seed = seed }
        do {
            try s.validate()
        } catch {
            throw APIError(.badRequest, "\(error)")
        }
        return s
    }
}
