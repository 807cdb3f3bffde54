import CKernels
import PluginAPI

/// A weight matrix y = W x in a kernel-ready form: `rows` outputs of `cols` inputs each.
public struct WeightMatrix: @unchecked Sendable {
    public let name: String
    public let type: Int32
    public let data: UnsafeRawPointer
    public let rows: Int
    public let cols: Int
    /// The same rows repacked for the four-row kernels (Q4_0, Q4_1, Q8_0), or nil.
    let packed: PackedWeights?

    init(_ view: TensorView, rows: Int, cols: Int, pack: Bool = true) throws {
        guard view.dims.count == 2, view.dims[0] == cols, view.dims[1] == rows else {
            throw ModelError.tensorShape(name: view.name, expected: [cols, rows], found: view.dims)
        }
        guard ck_type_supported(Int32(view.type.rawValue)) != 0 else {
            throw ModelError.unsupportedTensorType(name: view.name, type: view.type.name)
        }
        guard ck_row_size(Int32(view.type.rawValue), Int64(cols)) * rows <= view.byteCount else {
            throw ModelError.tensorShape(name: view.name, expected: [cols, rows], found: view.dims)
        }
        name = view.name
        type = Int32(view.type.rawValue)
        data = view.data
        self.rows = rows
        self.cols = cols
        packed = pack ? PackedWeights(type: type, parts: [(data, rows)], cols: cols) : nil
    }

    /// Y[nTok x rows] = X[nTok x cols] · Wᵀ
    func apply(_ pool: ComputePool, _ x: UnsafePointer<Float>, nTok: Int, into y: UnsafeMutablePointer<Float>) {
        if let packed {
            ck_matmul_packed(pool.raw, packed.raw, x, Int64(nTok), y)
        } else {
            ck_matmul(pool.raw, type, data, Int64(rows), Int64(cols), x, Int64(nTok), y)
        }
    }

    /// Row `index` dequantized to f32 (embedding lookup).
    func dequantizeRow(_ index: Int, into out: UnsafeMutablePointer<Float>) {
        let stride = ck_row_size(type, Int64(cols))
        ck_dequantize_row(type, data + index * stride, out, Int64(cols))
    }
}

/// Quantized rows repacked at load into CKernels' four-row interleaved layout (owned copy).
final class PackedWeights: @unchecked Sendable {
    let raw: OpaquePointer
    let rows: Int

    /// nil when the type or shape has no packed kernel (the caller keeps the GGUF layout).
    init?(type: Int32, parts: [(UnsafeRawPointer, Int)], cols: Int) {
        guard ck_packed_type_supported(type) != 0 else { return nil }
        let pointers: [UnsafeRawPointer?] = parts.map { $0.0 }
        let rows = parts.map { Int64($0.1) }
        guard let raw = pointers.withUnsafeBufferPointer({ p in
            rows.withUnsafeBufferPointer { r in ck_pack_weights(type, Int32(parts.count), p.baseAddress, r.baseAddress, Int64(cols)) }
        }) else { return nil }
        self.raw = raw
        self.rows = Int(ck_packed_rows(raw))
    }

    deinit { ck_packed_free(raw) }
}

/// Several projections of the same input (Q, K, V; gate, up) computed by one kernel call:
/// quantized weights over their stacked packed rows (then split into each projection's
/// output buffer), other types (F16, F32) by ck_matmul_parts on the original rows.
final class FusedProjection: @unchecked Sendable {
    private let packed: PackedWeights?
    private let matrices: [WeightMatrix]
    private let widths: [Int]
    private var output: FloatBuffer

    /// nil unless every matrix has the same type and column count.
    init?(_ matrices: [WeightMatrix]) {
        guard let first = matrices.first, matrices.count <= Int(CK_MATMUL_MAX_PARTS),
              matrices.allSatisfy({ $0.type == first.type && $0.cols == first.cols })
        else { return nil }
        if ck_packed_type_supported(first.type) != 0 {
            guard let packed = PackedWeights(type: first.type, parts: matrices.map { ($0.data, $0.rows) }, cols: first.cols)
            else { return nil }
            self.packed = packed
            output = FloatBuffer(count: packed.rows)
        } else {
            packed = nil
            output = FloatBuffer(count: 0)
        }
        self.matrices = matrices
        widths = matrices.map(\.rows)
    }

    /// a[nTok x widths[0]] = X · W_0ᵀ, b (W_1), c (W_2, three-part projections only)
    func apply(_ pool: ComputePool, _ x: UnsafePointer<Float>, nTok: Int,
               into a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, _ c: UnsafeMutablePointer<Float>? = nil) {
        guard let packed else {
            let weights: [UnsafeRawPointer?] = matrices.map { $0.data }
            let rows = widths.map { Int64($0) }
            let outputs: [UnsafeMutablePointer<Float>?] = [a, b, c].prefix(matrices.count).map { $0 }
            ck_matmul_parts(pool.raw, matrices[0].type, Int32(matrices.count), weights, rows, Int64(matrices[0].cols),
                            x, Int64(nTok), outputs)
            return
        }
        let total = packed.rows
        if output.count < nTok * total { output = FloatBuffer(count: nTok * total) }
        ck_matmul_packed(pool.raw, packed.raw, x, Int64(nTok), output.pointer)
        for t in 0..<nTok {
            let row = output.pointer + t * total
            (a + t * widths[0]).update(from: row, count: widths[0])
            (b + t * widths[1]).update(from: row + widths[0], count: widths[1])
            if let c, widths.count > 2 { (c + t * widths[2]).update(from: row + widths[0] + widths[1], count: widths[2]) }
        }
    }
}

/// An f32 vector (norm weights), converted once at load whatever its stored type.
public struct WeightVector: Sendable {
    public let values: [Float]

    init(_ view: TensorView, count: Int) throws {
        guard view.elementCount == count, view.dims.count == 1 else {
            throw ModelError.tensorShape(name: view.name, expected: [count], found: view.dims)
        }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBufferPointer { ck_dequantize_row(Int32(view.type.rawValue), view.data, $0.baseAddress, Int64(count)) }
        self.values = values
    }
}

/// The weights of one transformer block.
struct LlamaBlockWeights: @unchecked Sendable {
    let attentionNorm: WeightVector
    let query: WeightMatrix
    let key: WeightMatrix
    let value: WeightMatrix
    let attentionOutput: WeightMatrix
    let feedForwardNorm: WeightVector
    let gate: WeightMatrix
    let up: WeightMatrix
    let down: WeightMatrix
    /// Q, K and V stacked (one pool job per step), when their types allow.
    let qkv: FusedProjection?
    /// Gate and up stacked, when their types allow.
    let gateUp: FusedProjection?

    init(model: PluginModel, block: Int, hp: LlamaHyperparameters) throws {
        func t(_ suffix: String) throws -> TensorView {
            guard let view = model.tensors["blk.\(block).\(suffix)"] else {
                throw ModelError.missingTensor("blk.\(block).\(suffix)")
            }
            return view
        }
        attentionNorm = try WeightVector(t("attn_norm.weight"), count: hp.embedding)
        let q = try WeightMatrix(t("attn_q.weight"), rows: hp.embedding, cols: hp.embedding, pack: false)
        let k = try WeightMatrix(t("attn_k.weight"), rows: hp.kvDim, cols: hp.embedding, pack: false)
        let v = try WeightMatrix(t("attn_v.weight"), rows: hp.kvDim, cols: hp.embedding, pack: false)
        qkv = FusedProjection([q, k, v])
        // Unfused fallback: pack each on its own (a no-op when the fused packing succeeded).
        query = qkv == nil ? try WeightMatrix(t("attn_q.weight"), rows: hp.embedding, cols: hp.embedding) : q
        key = qkv == nil ? try WeightMatrix(t("attn_k.weight"), rows: hp.kvDim, cols: hp.embedding) : k
        value = qkv == nil ? try WeightMatrix(t("attn_v.weight"), rows: hp.kvDim, cols: hp.embedding) : v
        attentionOutput = try WeightMatrix(t("attn_output.weight"), rows: hp.embedding, cols: hp.embedding)
        feedForwardNorm = try WeightVector(t("ffn_norm.weight"), count: hp.embedding)
        let g = try WeightMatrix(t("ffn_gate.weight"), rows: hp.feedForward, cols: hp.embedding, pack: false)
        let u = try WeightMatrix(t("ffn_up.weight"), rows: hp.feedForward, cols: hp.embedding, pack: false)
        gateUp = FusedProjection([g, u])
        gate = gateUp == nil ? try WeightMatrix(t("ffn_gate.weight"), rows: hp.feedForward, cols: hp.embedding) : g
        up = gateUp == nil ? try WeightMatrix(t("ffn_up.weight"), rows: hp.feedForward, cols: hp.embedding) : u
        down = try WeightMatrix(t("ffn_down.weight"), rows: hp.embedding, cols: hp.feedForward)
    }
}
