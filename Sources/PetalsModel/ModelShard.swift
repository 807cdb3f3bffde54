import CKernels
import Foundation
import PluginAPI

/// The forward pass over one contiguous range of blocks, read top to bottom:
/// embeddings (first shard) → blocks [start, end) → final norm and logits (last shard).
/// Every architecture's block is a `TransformerBlock` in its own file (LlamaBlock.swift for
/// llama, Mistral, Qwen2 and Qwen3; LayerNormBlock.swift for BLOOM and GPT-2). A shard owns its
/// scratch buffers, so calls into one shard are serialised.
public final class ModelShard: @unchecked Sendable {
    public let hp: ModelHyperparameters
    public let blocks: Range<Int>
    /// Tokens processed per kernel call during prefill; longer inputs are split.
    public let maxBatch: Int
    public let pool: ComputePool

    private let model: PluginModel // keeps the mapped weights alive
    private let layers: [any TransformerBlock]
    private let embeddings: TokenEmbeddings?
    private let head: OutputHead?
    /// ALiBi slopes, one per head (BLOOM), else nil (owned; handed to the attention kernels).
    let alibiSlopes: UnsafeMutablePointer<Float>?
    /// F32 when every weight matrix of the blocks is F32 (BF16 is widened to F32), else F16.
    public let cachePrecision: KVCache.Precision
    let scratch: Scratch
    private let lock = NSLock()

    /// Token embeddings (first shard only): the table, learned positions (GPT-2), and a
    /// LayerNorm applied to the sum (BLOOM).
    private struct TokenEmbeddings {
        let table: WeightMatrix
        let positions: WeightMatrix?
        let norm: Norm?
    }

    /// Final norm and output projection (last shard only).
    private struct OutputHead {
        let norm: Norm
        let output: WeightMatrix
    }

    /// What the format plugin said about the model (tokenizer and chat template included).
    public var modelDescription: ModelDescription { model.description }
    public var hasEmbeddings: Bool { embeddings != nil }
    public var hasHead: Bool { head != nil }

    public init(model: PluginModel, pool: ComputePool, maxBatch: Int = 64) throws {
        let d = model.description
        hp = try ModelHyperparameters(d)
        guard d.blockStart >= 0, d.blockStart <= d.blockEnd, d.blockEnd <= d.blockCount else {
            throw ModelError.invalidBlockRange("[\(d.blockStart), \(d.blockEnd)) of \(d.blockCount) blocks")
        }
        blocks = d.blockStart..<d.blockEnd
        self.model = model
        self.pool = pool
        self.maxBatch = max(1, maxBatch)
        let hp = self.hp
        layers = try blocks.map { try hp.architecture.makeBlock(model: model, block: $0, hp: hp) }

        if blocks.lowerBound == 0 {
            embeddings = TokenEmbeddings(
                table: try WeightMatrix(requireTensor(model, "token_embd.weight"), rows: hp.vocabularySize,
                                        cols: hp.embedding, pack: false, inProducts: false),
                positions: hp.positions == .learned
                    ? try WeightMatrix(requireTensor(model, "position_embd.weight"), rows: hp.contextLength,
                                       cols: hp.embedding, pack: false, inProducts: false)
                    : nil,
                norm: hp.architecture == .bloom
                    ? try Norm(model: model, "token_embd_norm", width: hp.embedding, architecture: hp.architecture)
                    : nil)
        } else {
            embeddings = nil
        }
        if blocks.upperBound == hp.blockCount {
            let headName = d.tiedEmbeddings ? "token_embd.weight" : "output.weight"
            head = OutputHead(
                norm: try Norm(model: model, "output_norm", width: hp.embedding, architecture: hp.architecture),
                output: try WeightMatrix(requireTensor(model, headName), rows: hp.vocabularySize, cols: hp.embedding))
        } else {
            head = nil
        }
        if hp.positions == .alibi {
            let slopes = UnsafeMutablePointer<Float>.allocate(capacity: hp.heads)
            ck_alibi_slopes(Int64(hp.heads), slopes)
            alibiSlopes = slopes
        } else {
            alibiSlopes = nil
        }
        cachePrecision = model.tensors.values.allSatisfy { view in
            !view.name.hasPrefix("blk.") || view.dims.count < 2 || view.type == .f32 || view.type == .bf16
        } ? .f32 : .f16
        scratch = Scratch(hp: hp, maxBatch: self.maxBatch)
    }

    deinit { alibiSlopes?.deallocate() }

    /// A KV cache for this shard's blocks holding `capacity` positions.
    public func makeCache(capacity: Int) -> KVCache {
        KVCache(layers: layers.count, capacity: capacity, rowWidth: hp.kvDim, precision: cachePrecision)
    }

    // MARK: - Embeddings (first shard only)

    /// Hidden states (tokens.count x embedding) of `tokens` at positions `position` ..< position + count.
    public func embed(_ tokens: [Int], at position: Int) throws -> FloatBuffer {
        guard let embeddings else {
            throw ModelError.invalidBlockRange("this shard [\(blocks.lowerBound), \(blocks.upperBound)) has no token embeddings")
        }
        let e = hp.embedding
        let hidden = FloatBuffer(count: tokens.count * e)
        let positionRow = FloatBuffer(count: embeddings.positions == nil ? 0 : e)
        for (i, token) in tokens.enumerated() {
            guard token >= 0, token < hp.vocabularySize else {
                throw ModelError.tokenOutOfRange(token, vocabularySize: hp.vocabularySize)
            }
            let row = hidden.pointer + i * e
            embeddings.table.dequantizeRow(token, into: row)
            if let positions = embeddings.positions {
                guard position + i < hp.contextLength else {
                    throw ModelError.contextFull(needed: position + i + 1, capacity: hp.contextLength)
                }
                positions.dequantizeRow(position + i, into: positionRow.pointer)
                ck_add(row, positionRow.pointer, Int64(e))
            }
        }
        embeddings.norm?.apply(hidden.pointer, hidden.pointer, rows: tokens.count, width: e, epsilon: hp.normEpsilon)
        if let scale = hp.embeddingScale {  // Gemma 3
            for i in 0..<(tokens.count * e) { hidden.pointer[i] *= scale }
        }
        return hidden
    }

    // MARK: - Blocks

    /// Runs `nTok` hidden states (in place) through this shard's blocks at positions
    /// cache.count ..< cache.count + nTok, appending their keys and values to the cache. After
    /// the model's last block only the last row is final (the others skip its feed-forward, as
    /// in llama.cpp, which keeps only the rows it outputs).
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
                layer.forward(self, layer: index, x: x, nTok: n, pos0: cache.count, cache: cache)
            }
            cache.advance(by: n)
            done += n
        }
    }

    /// scratch.attention = attention(scratch.query over the cache), after appending
    /// scratch.key and scratch.value at positions pos0 ..< pos0 + n (causal, GQA aware, with
    /// ALiBi for BLOOM), in the cache's precision. With a `window`, the query at position p sees
    /// positions p - window + 1 ... p only (Gemma 3's sliding blocks).
    func attendStep(layer: Int, nTok n: Int, pos0: Int, cache: KVCache, window: Int? = nil) {
        if let window, pos0 + n > window {
            // One query at a time, over its own window of the cache.
            for t in 0..<n {
                let position = pos0 + t, first = max(0, position - window + 1)
                attend(layer: layer, queryRow: t, rows: 1, keysFrom: first, pos0: position - first, appendAt: position,
                       cache: cache)
            }
            return
        }
        attend(layer: layer, queryRow: 0, rows: n, keysFrom: 0, pos0: pos0, appendAt: pos0, cache: cache)
    }

    /// Appends keys and values of scratch rows queryRow ..< queryRow + rows at `appendAt`, then
    /// attends those query rows over the cache's positions keysFrom ..< appendAt + rows.
    private func attend(layer: Int, queryRow: Int, rows n: Int, keysFrom first: Int, pos0: Int, appendAt: Int,
                        cache: KVCache) {
        let kv = hp.kvDim, qd = hp.queryDim, row = appendAt * kv, s = scratch
        let (keys, values) = (cache.keys[layer], cache.values[layer])
        let scale = hp.attentionScale
        let query = s.query.pointer + queryRow * qd, out = s.attention.pointer + queryRow * qd
        let newKeys = s.key.pointer + queryRow * kv, newValues = s.value.pointer + queryRow * kv
        switch cache.precision {
        case .f16:
            let k = keys.assumingMemoryBound(to: UInt16.self), v = values.assumingMemoryBound(to: UInt16.self)
            ck_fp32_to_fp16_row(newKeys, k + row, Int64(n * kv))
            ck_fp32_to_fp16_row(newValues, v + row, Int64(n * kv))
            ck_attention(pool.raw, out, query, Int64(n), Int64(pos0), k + first * kv, v + first * kv, Int64(kv),
                         Int64(hp.heads), Int64(hp.kvHeads), Int64(hp.headDim), scale, alibiSlopes)
        case .f32:
            let k = keys.assumingMemoryBound(to: Float.self), v = values.assumingMemoryBound(to: Float.self)
            (k + row).update(from: newKeys, count: n * kv)
            (v + row).update(from: newValues, count: n * kv)
            ck_attention_f32(pool.raw, out, query, Int64(n), Int64(pos0), k + first * kv, v + first * kv, Int64(kv),
                             Int64(hp.heads), Int64(hp.kvHeads), Int64(hp.headDim), scale, alibiSlopes)
        }
    }

    // MARK: - Head (last shard only)

    /// Logits over the vocabulary for hidden-state row `row`.
    public func logits(_ hidden: FloatBuffer, row: Int) throws -> [Float] {
        guard let head else {
            throw ModelError.invalidBlockRange("this shard [\(blocks.lowerBound), \(blocks.upperBound)) has no output head")
        }
        lock.lock()
        defer { lock.unlock() }
        let e = hp.embedding
        head.norm.apply(scratch.normed.pointer, hidden.pointer + row * e, rows: 1, width: e, epsilon: hp.normEpsilon)
        var result = [Float](repeating: 0, count: hp.vocabularySize)
        result.withUnsafeMutableBufferPointer { head.output.apply(pool, scratch.normed.pointer, nTok: 1, into: $0.baseAddress!) }
        return result
    }
}

/// The named buffers of a forward pass, sized for maxBatch tokens.
final class Scratch: @unchecked Sendable {
    let normed: FloatBuffer
    let query: FloatBuffer
    let key: FloatBuffer
    let value: FloatBuffer
    let attention: FloatBuffer
    let projected: FloatBuffer
    /// Feed-forward hidden layer (llama: the gate; BLOOM, GPT-2: the up projection).
    let gate: FloatBuffer
    /// Llama's up projection.
    let up: FloatBuffer
    /// Fused Q, K, V rows (BLOOM, GPT-2).
    let qkv: FloatBuffer

    init(hp: ModelHyperparameters, maxBatch b: Int) {
        let gated = hp.architecture.usesRMSNorm
        normed = FloatBuffer(count: b * hp.embedding)
        query = FloatBuffer(count: b * max(hp.embedding, hp.queryDim))
        key = FloatBuffer(count: b * hp.kvDim)
        value = FloatBuffer(count: b * hp.kvDim)
        attention = FloatBuffer(count: b * hp.queryDim)
        projected = FloatBuffer(count: b * hp.embedding)
        gate = FloatBuffer(count: b * hp.feedForward)
        up = FloatBuffer(count: gated ? b * hp.feedForward : 0)
        qkv = FloatBuffer(count: gated ? 0 : b * (hp.embedding + 2 * hp.kvDim))
    }
}
