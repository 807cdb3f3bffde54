import CKernels
import PluginAPI

/// The weights of one Gemma 3 block (llama.cpp's llm_build_gemma3): RMSNorm before and after
/// both attention and feed-forward, a per-head RMSNorm of q and k, a GELU-tanh gated
/// feed-forward, and, on the sliding layers, attention over the last `slidingWindow` positions
/// with rotary embeddings of their own base. (GGUF norm weights already hold Gemma's 1 + w.)
struct Gemma3BlockWeights: TransformerBlock, @unchecked Sendable {
    let attentionNorm: Norm
    /// W_q, W_k, W_v.
    let queryKeyValue: ProjectionGroup
    let queryNorm: Norm
    let keyNorm: Norm
    let attentionOutput: WeightMatrix
    let postAttentionNorm: Norm
    let feedForwardNorm: Norm
    /// W_gate, W_up.
    let gateUp: ProjectionGroup
    let down: WeightMatrix
    let postFeedForwardNorm: Norm
    /// Attention window of this block (nil: global) and its rotary base.
    let window: Int?
    let ropeBase: Float
    /// The model's last block (its feed-forward runs on each sequence's output row only).
    let isLastBlock: Bool

    init(model: PluginModel, block: Int, hp: ModelHyperparameters) throws {
        func t(_ suffix: String) throws -> TensorView { try requireTensor(model, "blk.\(block).\(suffix)") }
        func norm(_ suffix: String, _ width: Int) throws -> Norm {
            try Norm(model: model, "blk.\(block).\(suffix)", width: width, architecture: .gemma3)
        }
        let e = hp.embedding, qd = hp.queryDim, kv = hp.kvDim, f = hp.feedForward
        attentionNorm = try norm("attn_norm", e)
        queryKeyValue = try ProjectionGroup([(t("attn_q.weight"), qd), (t("attn_k.weight"), kv), (t("attn_v.weight"), kv)],
                                            cols: e)
        queryNorm = try norm("attn_q_norm", hp.headDim)
        keyNorm = try norm("attn_k_norm", hp.headDim)
        attentionOutput = try WeightMatrix(t("attn_output.weight"), rows: e, cols: qd)
        postAttentionNorm = try norm("post_attention_norm", e)
        feedForwardNorm = try norm("ffn_norm", e)
        gateUp = try ProjectionGroup([(t("ffn_gate.weight"), f), (t("ffn_up.weight"), f)], cols: e)
        down = try WeightMatrix(t("ffn_down.weight"), rows: e, cols: f)
        postFeedForwardNorm = try norm("post_ffw_norm", e)
        let sliding = hp.isSlidingBlock(block)
        window = sliding ? hp.slidingWindow : nil
        guard case .rotary(_, let base, _) = hp.positions else {
            throw ModelError.invalidHyperparameters("gemma3 needs rotary embeddings")
        }
        ropeBase = sliding ? hp.ropeFreqBaseSliding : base
        isLastBlock = block == hp.blockCount - 1
    }

    func forward(_ shard: ModelShard, layer: Int, x: UnsafeMutablePointer<Float>, batch: BatchLayout) {
        shard.gemma3AttentionStep(self, layer: layer, x: x, batch: batch)
        shard.feedForwardRows(x, batch, lastRowsOnly: isLastBlock) { rows, tokens in
            shard.gemma3FeedForwardStep(self, x: rows, tokens: tokens)
        }
    }
}

extension ModelShard {
    /// x += post_norm(Wo · attention(rope(norm_q(Wq·norm(x))), cache ∪ rope(norm_k(Wk·norm(x))),
    /// cache ∪ Wv·norm(x))), the window and rotary base being the block's.
    func gemma3AttentionStep(_ w: Gemma3BlockWeights, layer: Int, x: UnsafeMutablePointer<Float>, batch: BatchLayout) {
        let e = hp.embedding, s = scratch, n = batch.rows
        w.attentionNorm.apply(s.normed.pointer, x, rows: n, width: e, epsilon: hp.normEpsilon, pool: pool)
        w.queryKeyValue.apply(pool, s.normed.pointer, batch.tokens, into: s.query.pointer, s.key.pointer, s.value.pointer)
        w.queryNorm.apply(s.query.pointer, s.query.pointer, rows: n * hp.heads, width: hp.headDim,
                          epsilon: hp.normEpsilon, pool: pool)
        w.keyNorm.apply(s.key.pointer, s.key.pointer, rows: n * hp.kvHeads, width: hp.headDim,
                        epsilon: hp.normEpsilon, pool: pool)
        if case .rotary(let dims, _, let style) = hp.positions {
            ropeStep(batch, dims: dims, base: w.ropeBase, style: style)
        }
        attendStep(layer: layer, batch: batch, window: w.window)
        w.attentionOutput.apply(pool, s.attention.pointer, batch.tokens, into: s.projected.pointer)
        w.postAttentionNorm.apply(s.projected.pointer, s.projected.pointer, rows: n, width: e,
                                  epsilon: hp.normEpsilon, pool: pool)
        ck_add_pool(pool.raw, x, s.projected.pointer, Int64(n * e))
    }

    /// x += post_norm(W_down · (gelu(W_gate · norm(x)) ⊙ W_up · norm(x))), GELU as the model's
    /// reference computes it (see geluGate).
    func gemma3FeedForwardStep(_ w: Gemma3BlockWeights, x: UnsafeMutablePointer<Float>, tokens: TokenRows) {
        let e = hp.embedding, s = scratch, n = tokens.count
        w.feedForwardNorm.apply(s.normed.pointer, x, rows: n, width: e, epsilon: hp.normEpsilon, pool: pool)
        w.gateUp.apply(pool, s.normed.pointer, tokens, into: s.gate.pointer, s.up.pointer)
        geluGate(s.gate.pointer, s.up.pointer, count: n * hp.feedForward)
        w.down.apply(pool, s.gate.pointer, tokens, into: s.projected.pointer)
        w.postFeedForwardNorm.apply(s.projected.pointer, s.projected.pointer, rows: n, width: e,
                                    epsilon: hp.normEpsilon, pool: pool)
        ck_add_pool(pool.raw, x, s.projected.pointer, Int64(n * e))
    }
}

extension ModelShard {
    /// gate = gelu(gate) ⊙ up: from ggml's f16 table for GGUF files (llama.cpp's numbers), in
    /// the exact tanh form for Hugging Face checkpoints (transformers' gelu_pytorch_tanh).
    func geluGate(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
        if hp.activation == .geluTanhF16Table {
            ck_geglu_f16_table_pool(pool.raw, gate, up, Int64(count))
            return
        }
        ck_gelu(gate, Int64(count))
        for i in 0..<count { gate[i] *= up[i] }
    }
}
