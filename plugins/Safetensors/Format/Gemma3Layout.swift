import Foundation
import PluginAPI

/// Gemma3ForCausalLM (config model_type "gemma3_text", the text-only Gemma 3 models such as
/// 270M and 1B): embeddings scaled by sqrt(hidden_size), RMSNorm scaling by 1 + w before and
/// after attention and feed-forward and over each head of q and k, a GELU-tanh gated
/// feed-forward, sliding-window layers with their own rotary base beside the global ones, and
/// the attention scale query_pre_attn_scalar^-1/2.
struct Gemma3Layout: CheckpointLayout {
    let architecture = "gemma3"
    let shape: ModelShape
    private var headDim: Int { shape.headDim ?? shape.embedding / shape.heads }

    init(_ config: ConfigJSON) throws {
        var s = try RMSNormDecoderShape.read(config, tiedByDefault: true)
        let head = try config.positive("head_dim")
        s.headDim = head == s.embedding / s.heads && s.embedding % s.heads == 0 ? nil : head
        s.ropeDims = head
        s.ropeStyle = "neox"
        s.ropeBase = try RopeSettings.plainBase(config, key: "full_attention", defaultBase: 1_000_000)
        s.ropeBaseSliding = try RopeSettings.plainBase(config, key: "sliding_attention", fallbackTheta: "rope_local_base_freq")
        let queryScalar = try config.double("query_pre_attn_scalar", default: 256)
        guard queryScalar > 0 else {
            throw SafetensorsError.badConfig(path: config.path, reason: "query_pre_attn_scalar must be positive, found \(queryScalar)")
        }
        s.attentionScale = 1 / queryScalar.squareRoot()
        switch config.string("hidden_activation") ?? config.string("hidden_act") ?? "gelu_pytorch_tanh" {
        case "gelu_pytorch_tanh", "gelu_new", "gelu_fast": s.activation = "gelu_tanh"
        case let other:
            throw SafetensorsError.unsupported(path: config.path, reason: "hidden_activation '\(other)' (Gemma 3 uses gelu_pytorch_tanh)")
        }
        for key in ["final_logit_softcapping", "attn_logit_softcapping"] where config.has(key) {
            throw SafetensorsError.unsupported(path: config.path, reason: "\(key) is set (Gemma 2-style soft-capping is not implemented)")
        }
        for flag in ["attention_bias", "use_bidirectional_attention"] {
            if try config.bool(flag, default: false) {
                throw SafetensorsError.unsupported(path: config.path, reason: "\(flag) is true")
            }
        }
        try Self.slidingLayers(config, blockCount: s.blockCount, shape: &s)
        shape = s
    }

    /// layer_types (or the older sliding_window_pattern) as the host's period: blocks b with
    /// b % period == period - 1 attend globally, the others within `sliding_window`.
    private static func slidingLayers(_ config: ConfigJSON, blockCount: Int, shape s: inout ModelShape) throws {
        let types: [String]
        if let listed = config.values["layer_types"] as? [String] {
            types = listed
        } else {
            let period = try config.optionalInt("sliding_window_pattern") ?? 6
            types = (0..<blockCount).map { ($0 + 1) % max(period, 1) == 0 ? "full_attention" : "sliding_attention" }
        }
        guard types.count == blockCount, Set(types).isSubset(of: ["full_attention", "sliding_attention"]) else {
            throw SafetensorsError.badConfig(path: config.path, reason: "layer_types must name full_attention or sliding_attention for each of the \(blockCount) layers")
        }
        guard types.contains("sliding_attention") else { return }
        guard let window = try config.optionalInt("sliding_window"), window > 0 else {
            throw SafetensorsError.badConfig(path: config.path, reason: "sliding layers without a positive sliding_window")
        }
        let period = (types.firstIndex(of: "full_attention") ?? blockCount) + 1
        let expected = (0..<blockCount).map { $0 % period == period - 1 ? "full_attention" : "sliding_attention" }
        guard types == expected else {
            throw SafetensorsError.unsupported(path: config.path, reason: "layer_types is not a repeating pattern of sliding layers then one global layer")
        }
        s.slidingWindow = window
        // A model without a global layer slides everywhere: a period longer than the model.
        s.slidingWindowPattern = types.contains("full_attention") ? period : blockCount + 1
    }

    func blockTensors(_ b: Int) -> [TensorSpec] {
        let e = shape.embedding, q = shape.heads * headDim, kv = shape.kvHeads * headDim, f = shape.feedForward
        func spec(_ canonical: String, _ source: String, _ dims: [Int], _ transform: TensorTransform = .none) -> TensorSpec {
            TensorSpec(canonical: "blk.\(b).\(canonical)", sources: ["model.layers.\(b).\(source)"], shape: dims, transform: transform)
        }
        return [
            spec("attn_norm.weight", "input_layernorm.weight", [e], .addOne),
            spec("attn_q.weight", "self_attn.q_proj.weight", [q, e]),
            spec("attn_k.weight", "self_attn.k_proj.weight", [kv, e]),
            spec("attn_v.weight", "self_attn.v_proj.weight", [kv, e]),
            spec("attn_q_norm.weight", "self_attn.q_norm.weight", [headDim], .addOne),
            spec("attn_k_norm.weight", "self_attn.k_norm.weight", [headDim], .addOne),
            spec("attn_output.weight", "self_attn.o_proj.weight", [e, q]),
            spec("post_attention_norm.weight", "post_attention_layernorm.weight", [e], .addOne),
            spec("ffn_norm.weight", "pre_feedforward_layernorm.weight", [e], .addOne),
            spec("ffn_gate.weight", "mlp.gate_proj.weight", [f, e]),
            spec("ffn_up.weight", "mlp.up_proj.weight", [f, e]),
            spec("ffn_down.weight", "mlp.down_proj.weight", [e, f]),
            spec("post_ffw_norm.weight", "post_feedforward_layernorm.weight", [e], .addOne),
        ]
    }

    var embeddingTensors: [TensorSpec] {
        [TensorSpec(canonical: "token_embd.weight", sources: ["model.embed_tokens.weight"], shape: [shape.vocabulary, shape.embedding])]
    }

    var outputNormTensors: [TensorSpec] {
        [TensorSpec(canonical: "output_norm.weight", sources: ["model.norm.weight"], shape: [shape.embedding], transform: .addOne)]
    }
}
