import Foundation

/// The log-probability of a generated token and of the most likely alternatives at its
/// position, under the model's own distribution (log-softmax of the logits, before penalties,
/// temperature or truncation).
public struct TokenLogprob: Sendable, Equatable {
    public struct Alternative: Sendable, Equatable {
        public var token: Int
        public var logprob: Double
    }
    public var token: Int
    public var logprob: Double
    /// The `top` most likely tokens, most likely first.
    public var top: [Alternative]

    /// The entry of `token` given `logits`, with the `top` most likely alternatives.
    public init(token: Int, logits: [Float], top: Int) {
        let maxLogit = Double(logits.max() ?? 0)
        var sum = 0.0
        for value in logits { sum += exp(Double(value) - maxLogit) }
        let logZ = maxLogit + log(sum)
        self.token = token
        logprob = logits.indices.contains(token) ? Double(logits[token]) - logZ : -.infinity
        let indexed = logits.indices.map { ($0, logits[$0]) }
        self.top = Sampler.largest(indexed, count: min(max(top, 0), logits.count)).map {
            Alternative(token: $0.0, logprob: Double($0.1) - logZ)
        }
    }
}
