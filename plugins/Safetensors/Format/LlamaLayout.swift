import Foundation
import PluginAPI

/// LlamaForCausalLM and the checkpoints that share its tensor names: RMSNorm, rotary embeddings
/// (rotate-half, "neox"), grouped-query attention, SwiGLU feed-forward. MistralForCausalLM is
/// the same block (with a head size of its own in Nemo-style configs and, in v0.1, a sliding
/// window); Qwen2ForCausalLM adds biases to q, k and v; Qwen3ForCausalLM a per-head RMSNorm of
/// q and k and a head size of its own. All run as the host's llama block.
struct LlamaLayout: CheckpointLayout {
    enum Variant: String {
        case llama, mistral, qwen2, qwen3
    }

    let variant: Variant
    let shape: ModelShape
    /// The host's architecture: Mistral checkpoints run as llama.
    var architecture: String { variant == .mistral ? "llama" : variant.rawValue }
    private var headDim: Int { shape.headDim ?? shape.embedding / shape.heads }

    init(_ config: ConfigJSON, variant: Variant) throws {
        self.variant = variant
        var s = try RMSNormDecoderShape.read(config, tiedByDefault: false)
        s.headDim = try Self.headDim(config, embedding: s.embedding, heads: s.heads)
        s.ropeDims = s.headDim ?? s.embedding / s.heads
        if let factor = try config.optionalDouble("partial_rotary_factor"), factor != 1 {
            throw SafetensorsError.unsupported(path: config.path, reason: "partial_rotary_factor \(factor) (rotary embeddings over the whole head only)")
        }
        s.ropeBase = try RopeSettings.plainBase(config, key: nil)
        s.ropeStyle = "neox"
        s.activation = config.string("hidden_act") ?? "silu"
        guard s.activation == "silu" else {
            throw SafetensorsError.unsupported(path: config.path, reason: "hidden_act '\(s.activation)' (\(variant.rawValue) uses silu)")
        }
        // Qwen2's q, k and v always carry biases; the others' attention_bias would put one on
        // the output projection too, which the llama block has not.
        for flag in variant == .qwen2 ? ["mlp_bias"] : ["attention_bias", "mlp_bias"] {
            if try config.bool(flag, default: false) {
                throw SafetensorsError.unsupported(path: config.path, reason: "\(flag) is true (\(variant.rawValue) without these biases only)")
            }
        }
        try Self.checkSlidingWindow(config, variant: variant, shape: &s)
        shape = s
    }

    /// head_dim when it is not hidden_size / num_attention_heads (Qwen3, Mistral Nemo; transformers
    /// reads it for llama and Qwen2 too, with hidden_size / num_attention_heads as the default).
    private static func headDim(_ config: ConfigJSON, embedding: Int, heads: Int) throws -> Int? {
        let implied = embedding % heads == 0 ? embedding / heads : nil
        guard let declared = try config.optionalInt("head_dim"), declared != implied else {
            guard implied != nil else {
                throw SafetensorsError.badConfig(path: config.path, reason: "hidden_size \(embedding) is not divisible by num_attention_heads \(heads) and head_dim is not given")
            }
            return nil
        }
        guard declared > 0 else {
            throw SafetensorsError.badConfig(path: config.path, reason: "head_dim \(declared) is not positive")
        }
        return declared
    }

    /// Mistral v0.1 attends within a sliding window; a context no longer than the window is
    /// attended the same way by full attention, so the context is capped at the window.
    /// Qwen2's use_sliding_window (off in released checkpoints) is refused.
    private static func checkSlidingWindow(_ config: ConfigJSON, variant: Variant, shape s: inout ModelShape) throws {
        switch variant {
        case .mistral:
            if let window = try config.optionalInt("sliding_window"), window > 0 {
                s.contextLength = min(s.contextLength, window)
            }
        case .qwen2, .qwen3:
            if try config.bool("use_sliding_window", default: false) {
                throw SafetensorsError.unsupported(path: config.path, reason: "use_sliding_window is true (full attention only)")
            }
        case .llama:
            break
        }
    }

    func blockTensors(_ b: Int) -> [TensorSpec] {
        let e = shape.embedding, q = shape.heads * headDim, kv = shape.kvHeads * headDim, f = shape.feedForward
        func spec(_ canonical: String, _ source: String, _ dims: [Int]) -> TensorSpec {
            TensorSpec(canonical: "blk.\(b).\(canonical)", sources: ["model.layers.\(b).\(source)"], shape: dims)
        }
        var specs = [
            spec("attn_norm.weight", "input_layernorm.weight", [e]),
            spec("attn_q.weight", "self_attn.q_proj.weight", [q, e]),
            spec("attn_k.weight", "self_attn.k_proj.weight", [kv, e]),
            spec("attn_v.weight", "self_attn.v_proj.weight", [kv, e]),
            spec("attn_output.weight", "self_attn.o_proj.weight", [e, q]),
            spec("ffn_norm.weight", "post_attention_layernorm.weight", [e]),
            spec("ffn_gate.weight", "mlp.gate_proj.weight", [f, e]),
            spec("ffn_up.weight", "mlp.up_proj.weight", [f, e]),
            spec("ffn_down.weight", "mlp.down_proj.weight", [e, f]),
        ]
        if variant == .qwen2 {
            specs += [
                spec("attn_q.bias", "self_attn.q_proj.bias", [q]),
                spec("attn_k.bias", "self_attn.k_proj.bias", [kv]),
                spec("attn_v.bias", "self_attn.v_proj.bias", [kv]),
            ]
        }
        if variant == .qwen3 {
            specs += [
                spec("attn_q_norm.weight", "self_attn.q_norm.weight", [headDim]),
                spec("attn_k_norm.weight", "self_attn.k_norm.weight", [headDim]),
            ]
        }
        return specs
    }

    var embeddingTensors: [TensorSpec] {
        [TensorSpec(canonical: "token_embd.weight", sources: ["model.embed_tokens.weight"], shape: [shape.vocabulary, shape.embedding])]
    }

    var outputNormTensors: [TensorSpec] {
        [TensorSpec(canonical: "output_norm.weight", sources: ["model.norm.weight"], shape: [shape.embedding])]
    }
}
