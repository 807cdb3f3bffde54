import PluginAPI

// BLOOM and GPT-2 blocks share one shape: LayerNorm (weight and bias) before attention and
// before the feed-forward, a fused QKV projection, and biased linear layers with GELU.

/// A LayerNorm's weight and bias.
private func layerNorm(_ canonical: String, _ source: String, prefixes: [String], width: Int) -> [TensorSpec] {
    ["weight", "bias"].map {
        TensorSpec(canonical: "\(canonical).\($0)", sources: CheckpointLayouts.names("\(source).\($0)", prefixes: prefixes), shape: [width])
    }
}

/// A linear layer's weight (checkpoint `shape`) and bias (one value per output).
private func linear(_ canonical: String, _ source: String, prefixes: [String], shape: [Int],
                    transform: TensorTransform = .none) -> [TensorSpec] {
    let outputs = transform == .transpose ? shape[1] : shape[0]
    return [
        TensorSpec(canonical: "\(canonical).weight", sources: CheckpointLayouts.names("\(source).weight", prefixes: prefixes),
                   shape: shape, transform: transform),
        TensorSpec(canonical: "\(canonical).bias", sources: CheckpointLayouts.names("\(source).bias", prefixes: prefixes),
                   shape: [outputs], transform: transform == .transpose ? .none : transform),
    ]
}

/// What BLOOM and GPT-2 configs share: layer, head and vocabulary counts, the LayerNorm
/// epsilon and tied embeddings; the embedding width is named differently by each.
private func layerNormShape(_ config: ConfigJSON, embeddingKeys: [String]) throws -> ModelShape {
    var s = ModelShape()
    s.blockCount = try config.positive("n_layer", "num_hidden_layers")
    for key in embeddingKeys where config.has(key) {
        s.embedding = try config.positive(key)
        break
    }
    guard s.embedding > 0 else {
        throw SafetensorsError.badConfig(path: config.path, reason: "\(embeddingKeys.joined(separator: " or ")) is missing")
    }
    s.heads = try config.positive("n_head", "num_attention_heads")
    s.kvHeads = s.heads
    s.vocabulary = try config.positive("vocab_size")
    s.normEpsilon = try config.double("layer_norm_epsilon", default: 1e-5)
    s.tiedEmbeddings = try config.bool("tie_word_embeddings", default: true)
    guard s.embedding % s.heads == 0 else {
        throw SafetensorsError.badConfig(path: config.path, reason: "the embedding width \(s.embedding) is not divisible by \(s.heads) heads")
    }
    return s
}

/// BloomForCausalLM: LayerNorm on the word embeddings, ALiBi, fused query_key_value grouped
/// per head, GELU (tanh), output head tied to the embeddings.
struct BloomLayout: CheckpointLayout {
    private static let prefixes = ["transformer."]
    let architecture = "bloom"
    let shape: ModelShape

    init(_ config: ConfigJSON) throws {
        var s = try layerNormShape(config, embeddingKeys: ["hidden_size", "n_embed"])
        s.feedForward = 4 * s.embedding
        // ALiBi has no trained length; BLOOM was trained on 2048 positions.
        s.contextLength = config.has("seq_length") ? try config.positive("seq_length") : 2048
        if try config.bool("apply_residual_connection_post_layernorm", default: false) {
            throw SafetensorsError.unsupported(path: config.path, reason: "apply_residual_connection_post_layernorm is true (no released BLOOM uses it)")
        }
        shape = s
    }

    func blockTensors(_ b: Int) -> [TensorSpec] {
        let e = shape.embedding, p = Self.prefixes, h = "h.\(b)"
        return layerNorm("blk.\(b).attn_norm", "\(h).input_layernorm", prefixes: p, width: e)
            + linear("blk.\(b).attn_qkv", "\(h).self_attention.query_key_value", prefixes: p, shape: [3 * e, e],
                     transform: .groupQKVByPart(heads: shape.heads, headDim: e / shape.heads))
            + linear("blk.\(b).attn_output", "\(h).self_attention.dense", prefixes: p, shape: [e, e])
            + layerNorm("blk.\(b).ffn_norm", "\(h).post_attention_layernorm", prefixes: p, width: e)
            + linear("blk.\(b).ffn_up", "\(h).mlp.dense_h_to_4h", prefixes: p, shape: [4 * e, e])
            + linear("blk.\(b).ffn_down", "\(h).mlp.dense_4h_to_h", prefixes: p, shape: [e, 4 * e])
    }

    var embeddingTensors: [TensorSpec] {
        [TensorSpec(canonical: "token_embd.weight", sources: CheckpointLayouts.names("word_embeddings.weight", prefixes: Self.prefixes),
                    shape: [shape.vocabulary, shape.embedding])]
            + layerNorm("token_embd_norm", "word_embeddings_layernorm", prefixes: Self.prefixes, width: shape.embedding)
    }

    var outputNormTensors: [TensorSpec] { layerNorm("output_norm", "ln_f", prefixes: Self.prefixes, width: shape.embedding) }
}

/// GPT2LMHeadModel: learned positions, Conv1D weights stored [in, out], GELU (gelu_new),
/// output head tied to the embeddings.
struct GPT2Layout: CheckpointLayout {
    private static let prefixes = ["transformer."]
    let architecture = "gpt2"
    let shape: ModelShape

    init(_ config: ConfigJSON) throws {
        var s = try layerNormShape(config, embeddingKeys: ["n_embd", "hidden_size"])
        s.contextLength = try config.positive("n_positions", "max_position_embeddings")
        s.feedForward = config.has("n_inner") ? try config.positive("n_inner") : 4 * s.embedding
        switch config.string("activation_function") ?? "gelu_new" {
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": s.activation = "gelu_tanh"
        case "gelu": s.activation = "gelu"
        case let other:
            throw SafetensorsError.unsupported(path: config.path, reason: "activation_function '\(other)' (supported: gelu_new, gelu_pytorch_tanh, gelu)")
        }
        guard try config.bool("scale_attn_weights", default: true),
              !(try config.bool("scale_attn_by_inverse_layer_idx", default: false)) else {
            throw SafetensorsError.unsupported(path: config.path, reason: "attention scaling other than 1/sqrt(head size)")
        }
        shape = s
    }

    func blockTensors(_ b: Int) -> [TensorSpec] {
        let e = shape.embedding, f = shape.feedForward, p = Self.prefixes, h = "h.\(b)"
        return layerNorm("blk.\(b).attn_norm", "\(h).ln_1", prefixes: p, width: e)
            + linear("blk.\(b).attn_qkv", "\(h).attn.c_attn", prefixes: p, shape: [e, 3 * e], transform: .transpose)
            + linear("blk.\(b).attn_output", "\(h).attn.c_proj", prefixes: p, shape: [e, e], transform: .transpose)
            + layerNorm("blk.\(b).ffn_norm", "\(h).ln_2", prefixes: p, width: e)
            + linear("blk.\(b).ffn_up", "\(h).mlp.c_fc", prefixes: p, shape: [e, f], transform: .transpose)
            + linear("blk.\(b).ffn_down", "\(h).mlp.c_proj", prefixes: p, shape: [f, e], transform: .transpose)
    }

    var embeddingTensors: [TensorSpec] {
        [
            TensorSpec(canonical: "token_embd.weight", sources: CheckpointLayouts.names("wte.weight", prefixes: Self.prefixes),
                       shape: [shape.vocabulary, shape.embedding]),
            TensorSpec(canonical: "position_embd.weight", sources: CheckpointLayouts.names("wpe.weight", prefixes: Self.prefixes),
                       shape: [shape.contextLength, shape.embedding]),
        ]
    }

    var outputNormTensors: [TensorSpec] { layerNorm("output_norm", "ln_f", prefixes: Self.prefixes, width: shape.embedding) }
}
