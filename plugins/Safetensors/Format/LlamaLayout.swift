import Foundation
import PluginAPI

/// LlamaForCausalLM: RMSNorm, rotary embeddings (rotate-half, "neox"), grouped-query
/// attention, SwiGLU feed-forward.
struct LlamaLayout: CheckpointLayout {
    let architecture = "llama"
    let shape: ModelShape

    init(_ config: ConfigJSON) throws {
        var s = ModelShape()
        s.blockCount = try config.positive("num_hidden_layers")
        s.embedding = try config.positive("hidden_size")
        s.feedForward = try config.positive("intermediate_size")
        s.heads = try config.positive("num_attention_heads")
        s.kvHeads = config.has("num_key_value_heads") ? try config.positive("num_key_value_heads") : s.heads
        s.vocabulary = try config.positive("vocab_size")
        s.contextLength = try config.positive("max_position_embeddings")
        s.normEpsilon = try config.double("rms_norm_eps", default: 1e-6)
        s.tiedEmbeddings = try config.bool("tie_word_embeddings", default: false)
        guard s.embedding % s.heads == 0, s.heads % s.kvHeads == 0 else {
            throw SafetensorsError.badConfig(path: config.path, reason: "hidden_size \(s.embedding), num_attention_heads \(s.heads) and num_key_value_heads \(s.kvHeads) do not divide")
        }
        s.ropeDims = s.embedding / s.heads
        if let declared = try config.optionalInt("head_dim"), declared != s.ropeDims {
            throw SafetensorsError.unsupported(path: config.path, reason: "head_dim \(declared) differs from hidden_size / num_attention_heads = \(s.ropeDims)")
        }
        // transformers 5 writes rope settings as rope_parameters; older configs as rope_theta
        // and rope_scaling. Only plain rotary embeddings are implemented.
        let parameters = config.object("rope_parameters") ?? config.object("rope_scaling")
        let ropeType = (parameters?["rope_type"] ?? parameters?["type"]) as? String ?? "default"
        guard ropeType == "default" else {
            throw SafetensorsError.unsupported(path: config.path, reason: "rope type '\(ropeType)' (only plain rotary embeddings)")
        }
        if let theta = (parameters?["rope_theta"] as? NSNumber)?.doubleValue {
            s.ropeBase = theta
        } else {
            s.ropeBase = try config.double("rope_theta", default: 10_000)
        }
        s.ropeStyle = "neox"
        for flag in ["attention_bias", "mlp_bias"] {
            if try config.bool(flag, default: false) {
                throw SafetensorsError.unsupported(path: config.path, reason: "\(flag) is true (llama without biases only)")
            }
        }
        s.activation = config.string("hidden_act") ?? "silu"
        guard s.activation == "silu" else {
            throw SafetensorsError.unsupported(path: config.path, reason: "hidden_act '\(s.activation)' (llama uses silu)")
        }
        shape = s
    }

    func blockTensors(_ b: Int) -> [TensorSpec] {
        let e = shape.embedding, kv = shape.kvHeads * shape.ropeDims, f = shape.feedForward
        func spec(_ canonical: String, _ source: String, _ dims: [Int]) -> TensorSpec {
            TensorSpec(canonical: "blk.\(b).\(canonical)", sources: ["model.layers.\(b).\(source)"], shape: dims)
        }
        return [
            spec("attn_norm.weight", "input_layernorm.weight", [e]),
            spec("attn_q.weight", "self_attn.q_proj.weight", [e, e]),
            spec("attn_k.weight", "self_attn.k_proj.weight", [kv, e]),
            spec("attn_v.weight", "self_attn.v_proj.weight", [kv, e]),
            spec("attn_output.weight", "self_attn.o_proj.weight", [e, e]),
            spec("ffn_norm.weight", "post_attention_layernorm.weight", [e]),
            spec("ffn_gate.weight", "mlp.gate_proj.weight", [f, e]),
            spec("ffn_up.weight", "mlp.up_proj.weight", [f, e]),
            spec("ffn_down.weight", "mlp.down_proj.weight", [e, f]),
        ]
    }

    var embeddingTensors: [TensorSpec] {
        [TensorSpec(canonical: "token_embd.weight", sources: ["model.embed_tokens.weight"], shape: [shape.vocabulary, shape.embedding])]
    }

    var outputNormTensors: [TensorSpec] {
        [TensorSpec(canonical: "output_norm.weight", sources: ["model.norm.weight"], shape: [shape.embedding])]
    }
}
