import CKernels
import Foundation
import PluginAPI

/// The llama forward pass over one contiguous range of blocks, read top to bottom:
/// embeddings (first shard) → blocks [start, end) → final norm and logits (last shard).
/// A shard owns its scratch buffers, so calls into one shard are serialised.
public final class LlamaShard: @unchecked Sendable {
    public let hp: LlamaHyperparameters
    public let blocks: Range<Int>
    /// Tokens processed per kernel call during prefill; longer inputs are split.
    public let maxBatch: Int
    public let pool: ComputePool

    private let model: PluginModel // keeps the mapped weights alive
    private let layers: [LlamaBlockWeights]
    private let tokenEmbeddings: WeightMatrix?
    private let outputNorm: WeightVector?
    private let output: WeightMatrix?
    private let lock = NSLock()

    // Scratch, sized for maxBatch tokens.
    private let normed: FloatBuffer
    private let query: FloatBuffer
    private let key: FloatBuffer
    private let value: FloatBuffer
    private let attention: FloatBuffer
    private let projected: FloatBuffer
    private let gate: FloatBuffer
    private let up: FloatBuffer

    /// What the format plugin said about the model (tokenizer and chat template included).
    public var modelDescription: ModelDescription { model.description }
    public var hasEmbeddings: Bool { tokenEmbeddings != nil }
    public var hasHead: Bool { output != nil }

    public init(model: PluginModel, pool: ComputePool, maxBatch: Int = 64) throws {
        let d = model.description
        hp = try LlamaHyperparameters(d)
        guard d.blockStart >= 0, d.blockStart <= d.blockEnd, d.blockEnd <= d.blockCount else {
            throw ModelError.invalidBlockRange("[\(d.blockStart), \(d.blockEnd)) of \(d.blockCount) blocks")
        }
        blocks = d.blockStart..<d.blockEnd
        self.model = model
        self.pool = pool
        self.maxBatch = max(1, maxBatch)
        let hp = self.hp
        layers = try blocks.map { try LlamaBlockWeights(model: model, block: $0, hp: hp) }

        if blocks.lowerBound == 0 {
            guard let view = model.tensors["token_embd.weight"] else { throw ModelError.missingTensor("token_embd.weight") }
            tokenEmbeddings = try WeightMatrix(view, rows: hp.vocabularySize, cols: hp.embedding, pack: false)
        } else {
            tokenEmbeddings = nil
        }
        if blocks.upperBound == hp.blockCount {
            guard let norm = model.tensors["output_norm.weight"] else { throw ModelError.missingTensor("output_norm.weight") }
            outputNorm = try WeightVector(norm, count: hp.embedding)
            let headName = d.tiedEmbeddings ? "token_embd.weight" : "output.weight"
            guard let head = model.tensors[headName] else { throw ModelError.missingTensor(headName) }
            output = try WeightMatrix(head, rows: hp.vocabularySize, cols: hp.embedding)
        } else {
            outputNorm = nil
            output = nil
        }

        let b = self.maxBatch
        normed = FloatBuffer(count: b * hp.embedding)
        query = FloatBuffer(count: b * hp.embedding)
        key = FloatBuffer(count: b * hp.kvDim)
        value = FloatBuffer(count: b * hp.kvDim)
        attention = FloatBuffer(count: b * hp.embedding)
        projected = FloatBuffer(count: b * hp.embedding)
        gate = FloatBuffer(count: b * hp.feedForward)
        up = FloatBuffer(count: b * hp.feedForward)
    }

    /// A KV cache for this shard's blocks holding `capacity` positions.
    public func makeCache(capacity: Int) -> KVCache {
        KVCache(layers: layers.count, capacity: capacity, rowWidth: hp.kvDim)
    }

    // MARK: - Embeddings (first shard only)

    /// Hidden states (tokens.count x embedding) of `tokens`.
    public func embed(_ tokens: [Int]) throws -> FloatBuffer {
        guard let table = tokenEmbeddings else {
            throw ModelError.invalidBlockRange("this shard [\(blocks.lowerBound), \(blocks.upperBound)) has no token embeddings")
        }
        let hidden = FloatBuffer(count: tokens.count * hp.embedding)
        for (i, token) in tokens.enumerated() {
            guard token >= 0, token < hp.vocabularySize else {
                throw ModelError.tokenOutOfRange(token, vocabularySize: hp.vocabularySize)
            }
            table.dequantizeRow(token, into: hidden.pointer + i * hp.embedding)
        }
        return hidden
    }

    // MARK: - Blocks

    /// Runs `nTok` hidden states (in place) through this shard's blocks at positions
    /// cache.count ..< cache.count + nTok, appending their keys and values to the cache.
    public func forward(_ hidden: FloatBuffer, nTok: Int, cache: KVCache) throws {
        guard nTok > 0, hidden.count >= nTok * hp.embedding else {
            throw ModelError.invalidHyperparameters("hidden states hold \(hidden.count) values, need \(nTok) x \(hp.embedding)")
        }
        guard cache.count + nTok <= cache.capacity else {
            throw ModelError.contextFull(needed: cache.count + nTok, capacity: cache.capacity)
        }
        lock.lock()
        defer { lock.unlock() }
        var done = 0
        while done < nTok {
            let n = min(maxBatch, nTok - done)
            let x = hidden.pointer + done * hp.embedding
            for (index, layer) in layers.enumerated() {
                attentionStep(layer, layerIndex: index, x: x, nTok: n, pos0: cache.count, cache: cache)
                feedForwardStep(layer, x: x, nTok: n)
            }
            cache.advance(by: n)
            done += n
        }
    }

    /// x += Wo · attention(rope(Wq·norm(x)), cache ∪ rope(Wk·norm(x)), cache ∪ Wv·norm(x))
    private func attentionStep(_ w: LlamaBlockWeights, layerIndex: Int, x: UnsafeMutablePointer<Float>,
                               nTok n: Int, pos0: Int, cache: KVCache) {
        let e = hp.embedding, kv = hp.kvDim
        rmsnorm(rows: n, x: x, weight: w.attentionNorm)
        if let qkv = w.qkv {
            qkv.apply(pool, normed.pointer, nTok: n, into: query.pointer, key.pointer, value.pointer)
        } else {
            w.query.apply(pool, normed.pointer, nTok: n, into: query.pointer)
            w.key.apply(pool, normed.pointer, nTok: n, into: key.pointer)
            w.value.apply(pool, normed.pointer, nTok: n, into: value.pointer)
        }
        ck_rope_rows(pool.raw, query.pointer, key.pointer, Int64(n), Int64(pos0), Int64(hp.heads), Int64(hp.kvHeads),
                     Int64(hp.headDim), Int64(hp.ropeDims), hp.ropeBase, hp.ropeStyle)
        let row = pos0 * kv
        ck_fp32_to_fp16_row(key.pointer, cache.keys[layerIndex] + row, Int64(n * kv))
        ck_fp32_to_fp16_row(value.pointer, cache.values[layerIndex] + row, Int64(n * kv))
        ck_attention(pool.raw, attention.pointer, query.pointer, Int64(n), Int64(pos0),
                     cache.keys[layerIndex], cache.values[layerIndex], Int64(kv),
                     Int64(hp.heads), Int64(hp.kvHeads), Int64(hp.headDim),
                     1 / Float(hp.headDim).squareRoot(), nil)
        w.attentionOutput.apply(pool, attention.pointer, nTok: n, into: projected.pointer)
        ck_add_pool(pool.raw, x, projected.pointer, Int64(n * e))
    }

    /// x += W_down · (silu(W_gate · norm(x)) ⊙ W_up · norm(x))
    private func feedForwardStep(_ w: LlamaBlockWeights, x: UnsafeMutablePointer<Float>, nTok n: Int) {
        rmsnorm(rows: n, x: x, weight: w.feedForwardNorm)
        if let gateUp = w.gateUp {
            gateUp.apply(pool, normed.pointer, nTok: n, into: gate.pointer, up.pointer)
        } else {
            w.gate.apply(pool, normed.pointer, nTok: n, into: gate.pointer)
            w.up.apply(pool, normed.pointer, nTok: n, into: up.pointer)
        }
        ck_silu_mul_pool(pool.raw, gate.pointer, up.pointer, Int64(n * hp.feedForward))
        w.down.apply(pool, gate.pointer, nTok: n, into: projected.pointer)
        ck_add_pool(pool.raw, x, projected.pointer, Int64(n * hp.embedding))
    }

    /// normed[t] = rmsnorm(x[t]) ⊙ weight
    private func rmsnorm(rows n: Int, x: UnsafePointer<Float>, weight: WeightVector) {
        weight.values.withUnsafeBufferPointer { w in
            ck_rmsnorm_rows(pool.raw, normed.pointer, x, w.baseAddress, Int64(n), Int64(hp.embedding), hp.normEpsilon)
        }
    }

    // MARK: - Head (last shard only)

    /// Logits over the vocabulary for hidden-state row `row`.
    public func logits(_ hidden: FloatBuffer, row: Int) throws -> [Float] {
        guard let output, let outputNorm else {
            throw ModelError.invalidBlockRange("this shard [\(blocks.lowerBound), \(blocks.upperBound)) has no output head")
        }
        lock.lock()
        defer { lock.unlock() }
        let e = hp.embedding
        outputNorm.values.withUnsafeBufferPointer { w in
            ck_rmsnorm(normed.pointer, hidden.pointer + row * e, w.baseAddress, Int64(e), hp.normEpsilon)
        }
        var result = [Float](repeating: 0, count: hp.vocabularySize)
        result.withUnsafeMutableBufferPointer { output.apply(pool, normed.pointer, nTok: 1, into: $0.baseAddress!) }
        return result
    }
}
