import CKernels
import PluginAPI

/// The weights of one llama-family block: llama and Mistral, and the two Qwen variants, whose
/// extra tensors are optional parts of the same steps (as in llama.cpp's build_qkv):
/// Qwen2 adds biases to the Q, K and V projections, Qwen3 a per-head RMSNorm of q and k (and
/// a head size that need not be embedding / heads).
struct LlamaBlockWeights: TransformerBlock, @unchecked Sendable {
    let attentionNorm: Norm
    /// W_q, W_k, W_v.
    let queryKeyValue: ProjectionGroup
    /// Qwen2: b_q, b_k, b_v.
    let queryKeyValueBias: (query: WeightVector, key: WeightVector, value: WeightVector)?
    /// Qwen3: RMSNorm weights over each head of q and of k.
    let queryKeyNorm: (query: Norm, key: Norm)?
    let attentionOutput: WeightMatrix
    let feedForwardNorm: Norm
    /// W_gate, W_up.
    let gateUp: ProjectionGroup
    let down: WeightMatrix
    /// The model's last block (its feed-forward runs on each sequence's output row only).
    let isLastBlock: Bool

    init(model: PluginModel, block: Int, hp: ModelHyperparameters) throws {
        func t(_ suffix: String) throws -> TensorView { try requireTensor(model, "blk.\(block).\(suffix)") }
        let e = hp.embedding, qd = hp.queryDim, kv = hp.kvDim
        attentionNorm = try Norm(model: model, "blk.\(block).attn_norm", width: e, architecture: .llama)
        queryKeyValue = try ProjectionGroup([(t("attn_q.weight"), qd), (t("attn_k.weight"), kv), (t("attn_v.weight"), kv)],
                                            cols: e)
        if model.tensors["blk.\(block).attn_q.bias"] != nil {
            queryKeyValueBias = (try WeightVector(t("attn_q.bias"), count: qd), try WeightVector(t("attn_k.bias"), count: kv),
                                 try WeightVector(t("attn_v.bias"), count: kv))
        } else {
            queryKeyValueBias = nil
        }
        if model.tensors["blk.\(block).attn_q_norm.weight"] != nil {
            queryKeyNorm = (try Norm(model: model, "blk.\(block).attn_q_norm", width: hp.headDim, architecture: .llama),
                            try Norm(model: model, "blk.\(block).attn_k_norm", width: hp.headDim, architecture: .llama))
        } else {
            queryKeyNorm = nil
        }
        attentionOutput = try WeightMatrix(t("attn_output.weight"), rows: e, cols: qd)
        feedForwardNorm = try Norm(model: model, "blk.\(block).ffn_norm", width: e, architecture: .llama)
        gateUp = try ProjectionGroup([(t("ffn_gate.weight"), hp.feedForward), (t("ffn_up.weight"), hp.feedForward)], cols: e)
        down = try WeightMatrix(t("ffn_down.weight"), rows: e, cols: hp.feedForward)
        isLastBlock = block == hp.blockCount - 1
    }

    func forward(_ shard: ModelShard, layer: Int, x: UnsafeMutablePointer<Float>, batch: BatchLayout) {
        shard.llamaAttentionStep(self, layer: layer, x: x, batch: batch)
        shard.feedForwardRows(x, batch, lastRowsOnly: isLastBlock) { rows, tokens in
            shard.llamaFeedForwardStep(self, x: rows, tokens: tokens)
        }
    }
}

extension ModelShard {
    /// x += Wo · attention(rope(norm_q(Wq·norm(x) + b_q)), cache ∪ rope(norm_k(Wk·norm(x) + b_k)),
    /// cache ∪ Wv·norm(x) + b_v), with the biases (Qwen2) and per-head norms (Qwen3) when present.
    func llamaAttentionStep(_ w: LlamaBlockWeights, layer: Int, x: UnsafeMutablePointer<Float>, batch: BatchLayout) {
        let e = hp.embedding, s = scratch, n = batch.rows, clock = phases
        clock?.start()
        w.attentionNorm.apply(s.normed.pointer, x, rows: n, width: e, epsilon: hp.normEpsilon, pool: pool)
        clock?.mark(.norms)
        w.queryKeyValue.apply(pool, s.normed.pointer, batch.tokens, into: s.query.pointer, s.key.pointer, s.value.pointer)
        if let bias = w.queryKeyValueBias {
            bias.query.add(to: s.query.pointer, rows: n)
            bias.key.add(to: s.key.pointer, rows: n)
            bias.value.add(to: s.value.pointer, rows: n)
        }
        if let norms = w.queryKeyNorm {
            norms.query.apply(s.query.pointer, s.query.pointer, rows: n * hp.heads, width: hp.headDim,
                              epsilon: hp.normEpsilon, pool: pool)
            norms.key.apply(s.key.pointer, s.key.pointer, rows: n * hp.kvHeads, width: hp.headDim,
                            epsilon: hp.normEpsilon, pool: pool)
        }
        clock?.mark(.queryKeyValue)
        if case .rotary(let dims, let base, let style) = hp.positions {
            ropeStep(batch, dims: dims, base: base, style: style)
        }
        clock?.mark(.rotary)
        attendStep(layer: layer, batch: batch)
        clock?.mark(.attention)
        w.attentionOutput.apply(pool, s.attention.pointer, batch.tokens, into: s.projected.pointer)
        clock?.mark(.attentionOutput)
        ck_add_pool(pool.raw, x, s.projected.pointer, Int64(n * e))
        clock?.mark(.residual)
    }

    /// x += W_down · (silu(W_gate · norm(x)) ⊙ W_up · norm(x))
    func llamaFeedForwardStep(_ w: LlamaBlockWeights, x: UnsafeMutablePointer<Float>, tokens: TokenRows) {
        let e = hp.embedding, s = scratch, n = tokens.count, clock = phases
        clock?.start()
        w.feedForwardNorm.apply(s.normed.pointer, x, rows: n, width: e, epsilon: hp.normEpsilon, pool: pool)
        clock?.mark(.norms)
        w.gateUp.apply(pool, s.normed.pointer, tokens, into: s.gate.pointer, s.up.pointer)
        clock?.mark(.gateUp)
        ck_silu_mul_pool(pool.raw, s.gate.pointer, s.up.pointer, Int64(n * hp.feedForward))
        clock?.mark(.activation)
        w.down.apply(pool, s.gate.pointer, tokens, into: s.projected.pointer)
        clock?.mark(.down)
        ck_add_pool(pool.raw, x, s.projected.pointer, Int64(n * e))
        clock?.mark(.residual)
    }
}
