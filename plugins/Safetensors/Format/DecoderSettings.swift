import Foundation

/// The sizes every RMSNorm decoder's config.json names alike (Llama, Mistral, Qwen, Gemma).
enum RMSNormDecoderShape {
    static func read(_ config: ConfigJSON, tiedByDefault: Bool) throws -> ModelShape {
        var s = ModelShape()
        s.blockCount = try config.positive("num_hidden_layers")
        s.embedding = try config.positive("hidden_size")
        s.feedForward = try config.positive("intermediate_size")
        s.heads = try config.positive("num_attention_heads")
        s.kvHeads = config.has("num_key_value_heads") ? try config.positive("num_key_value_heads") : s.heads
        s.vocabulary = try config.positive("vocab_size")
        s.contextLength = try config.positive("max_position_embeddings")
        s.normEpsilon = try config.double("rms_norm_eps", default: 1e-6)
        s.tiedEmbeddings = try config.bool("tie_word_embeddings", default: tiedByDefault)
        guard s.heads % s.kvHeads == 0 else {
            throw SafetensorsError.badConfig(path: config.path, reason: "num_attention_heads \(s.heads) is not a multiple of num_key_value_heads \(s.kvHeads)")
        }
        return s
    }
}

/// Rotary settings as configs write them: transformers 5's rope_parameters (one object, or one
/// per layer type for models whose layers differ), older configs' rope_theta and rope_scaling.
/// Only plain rotary embeddings are implemented; scaled ones are refused by name.
enum RopeSettings {
    /// The base of plain rotary embeddings; `key` picks a per-layer-type entry of
    /// rope_parameters ("full_attention", "sliding_attention") when the config has them.
    static func plainBase(_ config: ConfigJSON, key: String?, fallbackTheta: String = "rope_theta",
                          defaultBase: Double = 10_000) throws -> Double {
        var parameters = config.object("rope_parameters") ?? config.object("rope_scaling")
        if let key, let nested = parameters?[key] as? [String: Any] {
            parameters = nested
        }
        let ropeType = (parameters?["rope_type"] ?? parameters?["type"]) as? String ?? "default"
        guard ropeType == "default" else {
            throw SafetensorsError.unsupported(path: config.path, reason: "rope type '\(ropeType)'\(key.map { " (\($0))" } ?? "") (only plain rotary embeddings)")
        }
        if let theta = (parameters?["rope_theta"] as? NSNumber)?.doubleValue { return theta }
        return try config.double(fallbackTheta, default: defaultBase)
    }
}
