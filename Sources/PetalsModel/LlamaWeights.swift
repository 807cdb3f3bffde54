import CKernels
import PluginAPI

/// A weight matrix y = W x in a kernel-ready form: `rows` outputs of `cols` inputs each.
public struct WeightMatrix: @unchecked Sendable {
    public let name: String
    public let type: Int32
    public let data: UnsafeRawPointer
    public let rows: Int
    public let cols: Int

    init(_ view: TensorView, rows: Int, cols: Int) throws {
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
    }

    /// Y[nTok x rows] = X[nTok x cols] · Wᵀ
    func apply(_ pool: ComputePool, _ x: UnsafePointer<Float>, nTok: Int, into y: UnsafeMutablePointer<Float>) {
        ck_matmul(pool.raw, type, data, Int64(rows), Int64(cols), x, Int64(nTok), y)
    }

    /// Row `index` dequantized to f32 (embedding lookup).
    func dequantizeRow(_ index: Int, into out: UnsafeMutablePointer<Float>) {
        let stride = ck_row_size(type, Int64(cols))
        ck_dequantize_row(type, data + index * stride, out, Int64(cols))
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

    init(model: PluginModel, block: Int, hp: LlamaHyperparameters) throws {
        func t(_ suffix: String) throws -> TensorView {
            guard let view = model.tensors["blk.\(block).\(suffix)"] else {
                throw ModelError.missingTensor("blk.\(block).\(suffix)")
            }
            return view
        }
        attentionNorm = try WeightVector(t("attn_norm.weight"), count: hp.embedding)
        query = try WeightMatrix(t("attn_q.weight"), rows: hp.embedding, cols: hp.embedding)
        key = try WeightMatrix(t("attn_k.weight"), rows: hp.kvDim, cols: hp.embedding)
        value = try WeightMatrix(t("attn_v.weight"), rows: hp.kvDim, cols: hp.embedding)
        attentionOutput = try WeightMatrix(t("attn_output.weight"), rows: hp.embedding, cols: hp.embedding)
        feedForwardNorm = try WeightVector(t("ffn_norm.weight"), count: hp.embedding)
        gate = try WeightMatrix(t("ffn_gate.weight"), rows: hp.feedForward, cols: hp.embedding)
        up = try WeightMatrix(t("ffn_up.weight"), rows: hp.feedForward, cols: hp.embedding)
        down = try WeightMatrix(t("ffn_down.weight"), rows: hp.embedding, cols: hp.feedForward)
    }
}
