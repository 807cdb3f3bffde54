import CKernels
import PluginAPI

/// The weights of one llama block.
struct LlamaBlockWeights: @unchecked Sendable {
    let attentionNorm: Norm
    let query: WeightMatrix
    let key: WeightMatrix
    let value: WeightMatrix
    let attentionOutput: WeightMatrix
    let feedForwardNorm: Norm
    let gate: WeightMatrix
    let up: WeightMatrix
    let down: WeightMatrix
    /// Q, K and V stacked (one pool job per step), when their types allow.
    let qkv: FusedProjection?
    /// Gate and up stacked, when their types allow.
    let gateUp: FusedProjection?

    init(model: PluginModel, block: Int, hp: ModelHyperparameters) throws {
        func t(_ suffix: String) throws -> TensorView { try requireTensor(model, "blk.\(block).\(suffix)") }
        attentionNorm = try Norm(model: model, "blk.\(block).attn_norm", width: hp.embedding, architecture: .llama)
        let q = try WeightMatrix(t("attn_q.weight"), rows: hp.embedding, cols: hp.embedding, pack: false)
        let k = try WeightMatrix(t("attn_k.weight"), rows: hp.kvDim, cols: hp.embedding, pack: false)
        let v = try WeightMatrix(t("attn_v.weight"), rows: hp.kvDim, cols: hp.embedding, pack: false)
        qkv = FusedProjection([q, k, v])
        // Unfused fallback: pack each on its own (a no-op when the fused packing succeeded).
        query = qkv == nil ? try WeightMatrix(t("attn_q.weight"), rows: hp.embedding, cols: hp.embedding) : q
        key = qkv == nil ? try WeightMatrix(t("attn_k.weight"), rows: hp.kvDim, cols: hp.embedding) : k
        value = qkv == nil ? try WeightMatrix(t("attn_v.weight"), rows: hp.kvDim, cols: hp.embedding) : v
        attentionOutput = try WeightMatrix(t("attn_output.weight"), rows: hp.embedding, cols: hp.embedding)
        feedForwardNorm = try Norm(model: model, "blk.\(block).ffn_norm", width: hp.embedding, architecture: .llama)
        let g = try WeightMatrix(t("ffn_gate.weight"), rows: hp.feedForward, cols: hp.embedding, pack: false)
        let u = try WeightMatrix(t("ffn_up.weight"), rows: hp.feedForward, cols: hp.embedding, pack: false)
        gateUp = FusedProjection([g, u])
        gate = gateUp == nil ? try WeightMatrix(t("ffn_gate.weight"), rows: hp.feedForward, cols: hp.embedding) : g
        up = gateUp == nil ? try WeightMatrix(t("ffn_up.weight"), rows: hp.feedForward, cols: hp.embedding) : u
        down = try WeightMatrix(t("ffn_down.weight"), rows: hp.embedding, cols: hp.feedForward)
    }
}

extension ModelShard {
    /// x += Wo · attention(rope(Wq·norm(x)), cache ∪ rope(Wk·norm(x)), cache ∪ Wv·norm(x))
    func llamaAttentionStep(_ w: LlamaBlockWeights, layer: Int, x: UnsafeMutablePointer<Float>, batch: BatchLayout) {
        let e = hp.embedding, s = scratch, n = batch.rows
        w.attentionNorm.apply(s.normed.pointer, x, rows: n, width: e, epsilon: hp.normEpsilon, pool: pool)
        if let qkv = w.qkv {
            qkv.apply(pool, s.normed.pointer, nTok: n, into: s.query.pointer, s.key.pointer, s.value.pointer)
        } else {
            w.query.apply(pool, s.normed.pointer, nTok: n, into: s.query.pointer)
            w.key.apply(pool, s.normed.pointer, nTok: n, into: s.key.pointer)
            w.value.apply(pool, s.normed.pointer, nTok: n, into: s.value.pointer)
        }
        if case .rotary(let dims, let base, let style) = hp.positions {
            ropeStep(batch, dims: dims, base: base, style: style)
        }
        attendStep(layer: layer, batch: batch)
        w.attentionOutput.apply(pool, s.attention.pointer, nTok: n, into: s.projected.pointer)
        ck_add_pool(pool.raw, x, s.projected.pointer, Int64(n * e))
    }

    /// x += W_down · (silu(W_gate · norm(x)) ⊙ W_up · norm(x))
    func llamaFeedForwardStep(_ w: LlamaBlockWeights, x: UnsafeMutablePointer<Float>, nTok n: Int) {
        let e = hp.embedding, s = scratch
        w.feedForwardNorm.apply(s.normed.pointer, x, rows: n, width: e, epsilon: hp.normEpsilon, pool: pool)
        if let gateUp = w.gateUp {
            gateUp.apply(pool, s.normed.pointer, nTok: n, into: s.gate.pointer, s.up.pointer)
        } else {
            w.gate.apply(pool, s.normed.pointer, nTok: n, into: s.gate.pointer)
            w.up.apply(pool, s.normed.pointer, nTok: n, into: s.up.pointer)
        }
        ck_silu_mul_pool(pool.raw, s.gate.pointer, s.up.pointer, Int64(n * hp.feedForward))
        w.down.apply(pool, s.gate.pointer, nTok: n, into: s.projected.pointer)
        ck_add_pool(pool.raw, x, s.projected.pointer, Int64(n * e))
    }
}
