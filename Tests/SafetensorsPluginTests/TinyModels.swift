import Foundation

/// Tiny GPT-2, BLOOM and Llama checkpoints (random-free: ramps of values) for the plugin tests.
enum TinyModels {
    static let vocabulary = 258 // the 256 byte tokens, one merge, one special token

    static func gpt2Config(layers: Int = 2, embedding e: Int = 8) -> [String: Any] {
        ["model_type": "gpt2", "n_embd": e, "n_layer": layers, "n_head": 2, "n_positions": 16,
         "vocab_size": vocabulary, "n_inner": NSNull(), "activation_function": "gelu_new",
         "layer_norm_epsilon": 1e-5, "bos_token_id": 257, "eos_token_id": 257]
    }

    /// GPT-2 tensors (checkpoint names and shapes), optionally under "transformer.".
    static func gpt2Tensors(layers: Int = 2, embedding e: Int = 8, prefix: String = "", dtype: String = "F32")
        -> [CheckpointWriter.Tensor] {
        func t(_ name: String, _ shape: [Int]) -> CheckpointWriter.Tensor {
            CheckpointWriter.Tensor(name: prefix + name, dtype: dtype, shape: shape,
                                    values: CheckpointWriter.ramp(shape.reduce(1, *), scale: 0.001))
        }
        var tensors = [t("wte.weight", [vocabulary, e]), t("wpe.weight", [16, e]), t("ln_f.weight", [e]), t("ln_f.bias", [e])]
        for b in 0..<layers {
            tensors += [
                t("h.\(b).ln_1.weight", [e]), t("h.\(b).ln_1.bias", [e]),
                t("h.\(b).attn.c_attn.weight", [e, 3 * e]), t("h.\(b).attn.c_attn.bias", [3 * e]),
                t("h.\(b).attn.c_proj.weight", [e, e]), t("h.\(b).attn.c_proj.bias", [e]),
                t("h.\(b).ln_2.weight", [e]), t("h.\(b).ln_2.bias", [e]),
                t("h.\(b).mlp.c_fc.weight", [e, 4 * e]), t("h.\(b).mlp.c_fc.bias", [4 * e]),
                t("h.\(b).mlp.c_proj.weight", [4 * e, e]), t("h.\(b).mlp.c_proj.bias", [e]),
            ]
        }
        return tensors
    }

    static func bloomConfig(layers: Int = 2, embedding e: Int = 8, heads: Int = 2) -> [String: Any] {
        ["model_type": "bloom", "hidden_size": e, "n_layer": layers, "n_head": heads, "vocab_size": vocabulary,
         "layer_norm_epsilon": 1e-5, "bos_token_id": 1, "eos_token_id": 257]
    }

    static func bloomTensors(layers: Int = 2, embedding e: Int = 8) -> [CheckpointWriter.Tensor] {
        func t(_ name: String, _ shape: [Int]) -> CheckpointWriter.Tensor {
            CheckpointWriter.Tensor(name: "transformer." + name, shape: shape, values: CheckpointWriter.ramp(shape.reduce(1, *)))
        }
        var tensors = [t("word_embeddings.weight", [vocabulary, e]), t("word_embeddings_layernorm.weight", [e]),
                       t("word_embeddings_layernorm.bias", [e]), t("ln_f.weight", [e]), t("ln_f.bias", [e])]
        for b in 0..<layers {
            let h = "h.\(b)."
            tensors += [
                t(h + "input_layernorm.weight", [e]), t(h + "input_layernorm.bias", [e]),
                t(h + "self_attention.query_key_value.weight", [3 * e, e]), t(h + "self_attention.query_key_value.bias", [3 * e]),
                t(h + "self_attention.dense.weight", [e, e]), t(h + "self_attention.dense.bias", [e]),
                t(h + "post_attention_layernorm.weight", [e]), t(h + "post_attention_layernorm.bias", [e]),
                t(h + "mlp.dense_h_to_4h.weight", [4 * e, e]), t(h + "mlp.dense_h_to_4h.bias", [4 * e]),
                t(h + "mlp.dense_4h_to_h.weight", [e, 4 * e]), t(h + "mlp.dense_4h_to_h.bias", [e]),
            ]
        }
        return tensors
    }

    static func llamaConfig(layers: Int = 2) -> [String: Any] {
        ["model_type": "llama", "hidden_size": 8, "intermediate_size": 12, "num_hidden_layers": layers,
         "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 32, "vocab_size": vocabulary,
         "rms_norm_eps": 1e-5, "rope_parameters": ["rope_theta": 500.0, "rope_type": "default"],
         "tie_word_embeddings": false, "bos_token_id": 256, "eos_token_id": 257]
    }

    /// Llama tensors, one file per block plus one for the rest (for sharded layouts).
    static func llamaTensors(layers: Int = 2) -> [[CheckpointWriter.Tensor]] {
        func t(_ name: String, _ shape: [Int]) -> CheckpointWriter.Tensor {
            CheckpointWriter.Tensor(name: name, shape: shape, values: CheckpointWriter.ramp(shape.reduce(1, *)))
        }
        let rest = [t("model.embed_tokens.weight", [vocabulary, 8]), t("model.norm.weight", [8]), t("lm_head.weight", [vocabulary, 8])]
        let blocks = (0..<layers).map { b -> [CheckpointWriter.Tensor] in
            let l = "model.layers.\(b)."
            return [
                t(l + "input_layernorm.weight", [8]), t(l + "self_attn.q_proj.weight", [8, 8]),
                t(l + "self_attn.k_proj.weight", [4, 8]), t(l + "self_attn.v_proj.weight", [4, 8]),
                t(l + "self_attn.o_proj.weight", [8, 8]), t(l + "post_attention_layernorm.weight", [8]),
                t(l + "mlp.gate_proj.weight", [12, 8]), t(l + "mlp.up_proj.weight", [12, 8]), t(l + "mlp.down_proj.weight", [8, 12]),
            ]
        }
        return [rest] + blocks
    }
}
