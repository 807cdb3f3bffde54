import CKernels
import PluginAPI

/// The weights of one BLOOM or GPT-2 block: LayerNorms with biases, a fused QKV projection
/// (rows of every head's q, then k, then v), and biased linear layers.
struct LayerNormBlockWeights: TransformerBlock, @unchecked Sendable {
    let attentionNorm: Norm
    let qkv: BiasedMatrix
    let attentionOutput: BiasedMatrix
    let feedForwardNorm: Norm
    let up: BiasedMatrix
    let down: BiasedMatrix
    /// The model's last block (its feed-forward runs on each sequence's output row only).
    let isLastBlock: Bool

    init(model: PluginModel, block: Int, hp: ModelHyperparameters) throws {
        let e = hp.embedding, f = hp.feedForward, name = { (suffix: String) in "blk.\(block).\(suffix)" }
        attentionNorm = try Norm(model: model, name("attn_norm"), width: e, architecture: hp.architecture)
        qkv = try BiasedMatrix(model: model, name("attn_qkv"), rows: e + 2 * hp.kvDim, cols: e)
        attentionOutput = try BiasedMatrix(model: model, name("attn_output"), rows: e, cols: e)
        feedForwardNorm = try Norm(model: model, name("ffn_norm"), width: e, architecture: hp.architecture)
        up = try BiasedMatrix(model: model, name("ffn_up"), rows: f, cols: e)
        down = try BiasedMatrix(model: model, name("ffn_down"), rows: e, cols: f)
        isLastBlock = block == hp.blockCount - 1
    }

    func forward(_ shard: ModelShard, layer: Int, x: UnsafeMutablePointer<Float>, batch: BatchLayout) {
        shard.layerNormAttentionStep(self, layer: layer, x: x, batch: batch)
        shard.feedForwardRows(x, batch, lastRowsOnly: isLastBlock) { rows, tokens in
            shard.layerNormFeedForwardStep(self, x: rows, tokens: tokens)
        }
    }
}

extension ModelShard {
    /// x += W_o · attention(q, cache ∪ k, cache ∪ v) + b_o, where q, k, v = W_qkv · layernorm(x) + b_qkv
    /// (BLOOM adds its ALiBi bias inside the attention; GPT-2's positions are already in x).
    func layerNormAttentionStep(_ w: LayerNormBlockWeights, layer: Int, x: UnsafeMutablePointer<Float>, batch: BatchLayout) {
        let e = hp.embedding, kv = hp.kvDim, s = scratch, width = e + 2 * kv, n = batch.rows
        w.attentionNorm.apply(s.normed.pointer, x, rows: n, width: e, epsilon: hp.normEpsilon)
        w.qkv.apply(pool, s.normed.pointer, batch.tokens, into: s.qkv.pointer)
        for t in 0..<n {
            let row = s.qkv.pointer + t * width
            (s.query.pointer + t * e).update(from: row, count: e)
            (s.key.pointer + t * kv).update(from: row + e, count: kv)
            (s.value.pointer + t * kv).update(from: row + e + kv, count: kv)
        }
        attendStep(layer: layer, batch: batch)
        w.attentionOutput.apply(pool, s.attention.pointer, batch.tokens, into: s.projected.pointer)
        ck_add(x, s.projected.pointer, Int64(n * e))
    }

    /// x += W_down · gelu(W_up · layernorm(x) + b_up) + b_down
    func layerNormFeedForwardStep(_ w: LayerNormBlockWeights, x: UnsafeMutablePointer<Float>, tokens: TokenRows) {
        let e = hp.embedding, s = scratch, n = tokens.count, count = Int64(n * hp.feedForward)
        w.feedForwardNorm.apply(s.normed.pointer, x, rows: n, width: e, epsilon: hp.normEpsilon)
        w.up.apply(pool, s.normed.pointer, tokens, into: s.gate.pointer)
        switch hp.activation {
        case .gelu: ck_gelu_erf(s.gate.pointer, count)
        case .geluTanh, .silu, .geluTanhF16Table: ck_gelu(s.gate.pointer, count) // silu and the table are refused for these at load
        }
        w.down.apply(pool, s.gate.pointer, tokens, into: s.projected.pointer)
        ck_add(x, s.projected.pointer, Int64(n * e))
    }
}
