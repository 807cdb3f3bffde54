import CKernels
import Foundation
import PluginAPI

/// The forward pass over one contiguous range of blocks, read top to bottom:
/// embeddings (first shard) → blocks [start, end) → final norm and logits (last shard).
/// Every architecture's block is a `TransformerBlock` in its own file (LlamaBlock.swift for
/// llama, Mistral, Qwen2 and Qwen3; Gemma3Block.swift; LayerNormBlock.swift for BLOOM and
/// GPT-2). A shard owns its scratch buffers, so calls into one shard are serialised;
/// `forward(_:batch:)` runs the new rows of several sequences at once (one matrix product over
/// all rows, attention per sequence over its own cache), which is how a ``StepScheduler``
/// serves many sequences with one read of the weights.
public final class ModelShard: @unchecked Sendable {
    public let hp: ModelHyperparameters
    public let blocks: Range<Int>
    /// Tokens of one sequence processed per kernel call during prefill; longer inputs are split
    /// into chunks of this size from their first position.
    public let maxBatch: Int
    /// Rows one batched forward can hold (all sequences together): the scratch is sized for it.
    public let batchRows: Int
    public let pool: ComputePool
    /// The KV-cache memory of this shard's sequences (`--cache-tokens` positions).
    public let cachePool: KVCachePool

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
    /// Set (petals-bench --phases): forwards and logits add their parts' wall time here. Read
    /// and reset it between calls, never during one.
    public var phases: StepPhases?

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
    /// Whether a row's logits are the same bits in a batch of rows as alone: quantized head
    /// weights (their batches keep the single-row order); an F16/F32 head's batches run a GEMM
    /// whose rounding differs from the single-row dot.
    public var headBatchesExactly: Bool { head.map { ck_packed_type_supported($0.output.type) != 0 } ?? false }

    public init(model: PluginModel, pool: ComputePool, maxBatch: Int = 64, batchRows: Int = 256,
                cacheTokens: Int = 32_768) throws {
        let d = model.description
        hp = try ModelHyperparameters(d)
        guard d.blockStart >= 0, d.blockStart <= d.blockEnd, d.blockEnd <= d.blockCount else {
            throw ModelError.invalidBlockRange("[\(d.blockStart), \(d.blockEnd)) of \(d.blockCount) blocks")
        }
        blocks = d.blockStart..<d.blockEnd
        self.model = model
        self.pool = pool
        self.maxBatch = max(1, maxBatch)
        self.batchRows = max(2 * self.maxBatch, batchRows)
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
        scratch = Scratch(hp: hp, maxBatch: self.batchRows)
        cachePool = KVCachePool(layers: layers.count, rowWidth: hp.kvDim, precision: cachePrecision,
                                capacityTokens: cacheTokens)
    }

    deinit { alibiSlopes?.deallocate() }

    /// A KV cache for this shard's blocks holding `capacity` positions, with memory of its own
    /// (not counted in `cachePool`).
    public func makeCache(capacity: Int) -> KVCache {
        KVCache(layers: layers.count, capacity: capacity, rowWidth: hp.kvDim, precision: cachePrecision)
    }

    /// A KV cache of `capacity` positions reserved in this shard's `cachePool`; throws
    /// ModelError.cacheFull when the pool cannot hold it.
    public func openCache(capacity: Int) throws -> KVCache {
        try KVCache(pool: cachePool, capacity: capacity)
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
        try check(cache, adding: nTok)
        lock.lock()
        defer { lock.unlock() }
        var done = 0
        while done < nTok {
            let n = min(maxBatch, nTok - done)
            run(hidden.pointer + done * hp.embedding, BatchLayout([SequenceRows(cache: cache, rows: n)]))
            done += n
        }
    }

    /// Runs the rows of several sequences (in place) as one batch: `hidden` holds their rows one
    /// sequence after another, in `batch` order; each sequence's rows go to positions
    /// cache.count ..< cache.count + rows of its own cache. A row gets the same bits whatever
    /// shares its batch (each product accumulates a row in one fixed order; attention runs per
    /// sequence), as long as each sequence's rows come in the same chunks.
    public func forward(_ hidden: FloatBuffer, batch: [SequenceRows]) throws {
        let total = batch.reduce(0) { $0 + $1.rows }
        guard total > 0, total <= batchRows, hidden.count >= total * hp.embedding else {
            throw ModelError.invalidHyperparameters("a batch of \(total) rows (at most \(batchRows)) in \(hidden.count) values of width \(hp.embedding)")
        }
        for sequence in batch {
            guard sequence.rows > 0 else { throw ModelError.invalidHyperparameters("a sequence of a batch has no rows") }
            try check(sequence.cache, adding: sequence.rows)
        }
        guard Set(batch.map { ObjectIdentifier($0.cache) }).count == batch.count else {
            throw ModelError.invalidHyperparameters("a batch holds the same sequence twice")
        }
        lock.lock()
        defer { lock.unlock() }
        run(hidden.pointer, BatchLayout(batch))
    }

    private func check(_ cache: KVCache, adding rows: Int) throws {
        guard cache.layers == layers.count, cache.rowWidth == hp.kvDim, cache.precision == cachePrecision,
              cache.pool.pageRows == cachePool.pageRows else {
            throw ModelError.invalidHyperparameters("the KV cache was made for another shard")
        }
        guard cache.count + rows <= cache.capacity else {
            throw ModelError.contextFull(needed: cache.count + rows, capacity: cache.capacity)
        }
    }

    /// Every block over the batch's rows at x (the lock held, the batch within batchRows).
    private func run(_ x: UnsafeMutablePointer<Float>, _ batch: BatchLayout) {
        for sequence in batch.sequences { sequence.cache.ensure(positions: sequence.position + sequence.rows) }
        for (index, layer) in layers.enumerated() {
            layer.forward(self, layer: index, x: x, batch: batch)
        }
        for sequence in batch.sequences { sequence.cache.advance(by: sequence.rows) }
    }

    /// Rotary embeddings of scratch.query and scratch.key, each sequence's rows at its positions
    /// (one pool job for the whole batch).
    func ropeStep(_ batch: BatchLayout, dims: Int, base: Float, style: Int32) {
        let s = scratch
        batch.positions.withUnsafeBufferPointer { positions in
            ck_rope_rows_at(pool.raw, s.query.pointer, s.key.pointer, Int64(batch.rows), positions.baseAddress,
                            Int64(hp.heads), Int64(hp.kvHeads), Int64(hp.headDim), Int64(dims), base, style)
        }
    }

    /// scratch.attention = attention(scratch.query over each sequence's cache), after appending
    /// scratch.key and scratch.value at the sequence's new positions (causal, GQA aware, with
    /// ALiBi for BLOOM), in the cache's precision. With a `window`, the query at position p sees
    /// positions p - window + 1 ... p only (Gemma 3's sliding blocks).
    func attendStep(layer: Int, batch: BatchLayout, window: Int? = nil) {
        let kv = hp.kvDim, qd = hp.queryDim, s = scratch
        for sequence in batch.sequences {
            for t in 0..<sequence.rows {
                let (key, value) = (s.key.pointer + (sequence.offset + t) * kv, s.value.pointer + (sequence.offset + t) * kv)
                let position = sequence.position + t
                let (k, v) = (sequence.cache.keyRow(layer: layer, position: position),
                              sequence.cache.valueRow(layer: layer, position: position))
                switch cachePrecision {
                case .f16:
                    ck_fp32_to_fp16_row(key, k.assumingMemoryBound(to: UInt16.self), Int64(kv))
                    ck_fp32_to_fp16_row(value, v.assumingMemoryBound(to: UInt16.self), Int64(kv))
                case .f32:
                    k.assumingMemoryBound(to: Float.self).update(from: key, count: kv)
                    v.assumingMemoryBound(to: Float.self).update(from: value, count: kv)
                }
            }
        }
        var sequences: [ck_attention_seq] = []
        for sequence in batch.sequences {
            let (keys, values) = sequence.cache.pageTables(layer: layer)
            func rows(_ first: Int, _ count: Int, keysFrom: Int) -> ck_attention_seq {
                ck_attention_seq(out: s.attention.pointer + (sequence.offset + first) * qd,
                                 q: s.query.pointer + (sequence.offset + first) * qd, n_tok: Int64(count),
                                 pos0: Int64(sequence.position + first), k_pages: keys, v_pages: values,
                                 kv_first: Int64(keysFrom))
            }
            if let window, sequence.position + sequence.rows > window {
                // One query at a time, each over its own window of the cache.
                for t in 0..<sequence.rows {
                    sequences.append(rows(t, 1, keysFrom: max(0, sequence.position + t - window + 1)))
                }
            } else {
                sequences.append(rows(0, sequence.rows, keysFrom: 0))
            }
        }
        let attend = cachePrecision == .f16 ? ck_attention_paged : ck_attention_paged_f32
        attend(pool.raw, sequences, Int64(sequences.count), Int64(cachePool.pageRows), Int64(kv), Int64(hp.heads),
               Int64(hp.kvHeads), Int64(hp.headDim), hp.attentionScale, alibiSlopes)
    }

    /// Runs a block's feed-forward `step` (in place) over the batch's rows, or, in the model's
    /// last block, over each sequence's last row only: llama.cpp keeps just the rows it outputs
    /// after that block's attention, so its feed-forward multiplies single tokens (the order
    /// K-quant kernels give one token). The other rows keep their post-attention states and are
    /// never read: logits come from each sequence's last row.
    func feedForwardRows(_ x: UnsafeMutablePointer<Float>, _ batch: BatchLayout, lastRowsOnly: Bool,
                         _ step: (UnsafeMutablePointer<Float>, TokenRows) -> Void) {
        guard lastRowsOnly else { return step(x, batch.tokens) }
        let e = hp.embedding
        if batch.sequences.count == 1 { return step(x + (batch.rows - 1) * e, .separate(1)) }
        let gathered = scratch.lastRows.pointer
        for (i, sequence) in batch.sequences.enumerated() {
            (gathered + i * e).update(from: x + (sequence.offset + sequence.rows - 1) * e, count: e)
        }
        step(gathered, .separate(batch.sequences.count))
        for (i, sequence) in batch.sequences.enumerated() {
            (x + (sequence.offset + sequence.rows - 1) * e).update(from: gathered + i * e, count: e)
        }
    }

    // MARK: - Head (last shard only)

    /// Logits over the vocabulary for hidden-state row `row`.
    public func logits(_ hidden: FloatBuffer, row: Int) throws -> [Float] {
        try logits(hidden, rows: [row])[0]
    }

    /// Logits for several hidden-state rows (the last rows of a batch's sequences), through one
    /// product with the output matrix; each row's logits are the bits it gets alone.
    public func logits(_ hidden: FloatBuffer, rows: [Int]) throws -> [[Float]] {
        guard let head else {
            throw ModelError.invalidBlockRange("this shard [\(blocks.lowerBound), \(blocks.upperBound)) has no output head")
        }
        let e = hp.embedding, vocabulary = hp.vocabularySize
        guard rows.count <= batchRows, rows.allSatisfy({ $0 >= 0 && ($0 + 1) * e <= hidden.count }) else {
            throw ModelError.invalidHyperparameters("logits of rows \(rows) of \(hidden.count / max(e, 1)) hidden states")
        }
        guard !rows.isEmpty else { return [] }
        lock.lock()
        defer { lock.unlock() }
        let clock = phases
        clock?.start()
        for (i, row) in rows.enumerated() {
            head.norm.apply(scratch.normed.pointer + i * e, hidden.pointer + row * e, rows: 1, width: e, epsilon: hp.normEpsilon)
        }
        clock?.mark(.headNorm)
        let out = FloatBuffer(count: rows.count * vocabulary)
        clock?.mark(.logitsOut)
        head.output.apply(pool, scratch.normed.pointer, .separate(rows.count), into: out.pointer)
        clock?.mark(.headProduct)
        let logits = rows.indices.map { out.array(from: $0 * vocabulary, length: vocabulary) }
        clock?.mark(.logitsOut)
        return logits
    }
}

/// One sequence's part of a batched forward: `rows` new hidden states for `cache`.
public struct SequenceRows {
    public let cache: KVCache
    public let rows: Int

    public init(cache: KVCache, rows: Int) {
        self.cache = cache
        self.rows = rows
    }
}

/// A batch as the block steps see it: each sequence's rows at `offset` in the batch, going to
/// positions position ..< position + rows of its cache.
struct BatchLayout {
    struct Sequence {
        let cache: KVCache
        let offset: Int
        let rows: Int
        let position: Int
    }

    let sequences: [Sequence]
    /// All rows, split by sequence, for the matrix products.
    let tokens: TokenRows
    /// Each row's position in its sequence, rows in batch order.
    let positions: [Int64]
    var rows: Int { tokens.count }

    init(_ batch: [SequenceRows]) {
        var offset = 0
        sequences = batch.map { item in
            defer { offset += item.rows }
            return Sequence(cache: item.cache, offset: offset, rows: item.rows, position: item.cache.count)
        }
        tokens = TokenRows(sequenceLengths: batch.map(\.rows))
        positions = sequences.flatMap { sequence in (0..<sequence.rows).map { Int64(sequence.position + $0) } }
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
    /// The last row of each sequence of a batch, gathered for the model's last feed-forward.
    let lastRows: FloatBuffer

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
        lastRows = FloatBuffer(count: b * hp.embedding)
    }
}
