import CKernels
import PluginAPI

/// The tensor `name` of a shard, or an error naming it.
func requireTensor(_ model: PluginModel, _ name: String) throws -> TensorView {
    guard let view = model.tensors[name] else { throw ModelError.missingTensor(name) }
    return view
}

/// A weight matrix y = W x in a kernel-ready form: `rows` outputs of `cols` inputs each.
public struct WeightMatrix: @unchecked Sendable {
    public let name: String
    public let type: Int32
    public let data: UnsafeRawPointer
    public let rows: Int
    public let cols: Int
    /// The same rows repacked in four-row groups (the quantized types, ck_packed_type_supported), or nil.
    let packed: PackedWeights?
    /// BF16 weights widened to F32 at load (exact; the kernels have no fast BF16 dot), or nil.
    private let widened: FloatBuffer?
    /// F16/F32 weights that take part in products, copied into huge-page memory, or nil.
    private let copied: CopiedWeights?

    /// - Parameters:
    ///   - pack: repack quantized rows for the four-row kernels (false when a FusedProjection
    ///     packs this matrix together with others).
    ///   - inProducts: the matrix takes part in products, so every token streams it: BF16 is
    ///     widened to F32 and F16/F32 copied into huge-page memory. A table only read row by row
    ///     (token and position embeddings) is left as stored.
    init(_ view: TensorView, rows: Int, cols: Int, pack: Bool = true, inProducts: Bool = true) throws {
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
        self.rows = rows
        self.cols = cols
        if inProducts && view.type == .bf16 {
            let buffer = FloatBuffer(count: rows * cols)
            ck_dequantize_row(Int32(TensorType.bf16.rawValue), view.data, buffer.pointer, Int64(rows * cols))
            widened = buffer
            type = Int32(TensorType.f32.rawValue)
            data = UnsafeRawPointer(buffer.pointer)
            copied = nil
        } else {
            widened = nil
            type = Int32(view.type.rawValue)
            // From huge pages the per-token stream is faster than from the file's 4 KB pages
            // (quantized types get such memory when they are packed).
            copied = inProducts && ck_packed_type_supported(type) == 0
                ? CopiedWeights(view.data, bytes: ck_row_size(type, Int64(cols)) * rows) : nil
            data = copied.map { UnsafeRawPointer($0.pointer) } ?? view.data
        }
        packed = pack ? PackedWeights(type: type, parts: [(data, rows)], cols: cols) : nil
    }

    /// Y[n x rows] = X[n x cols] · Wᵀ for the n = tokens.count rows of X.
    func apply(_ pool: ComputePool, _ x: UnsafePointer<Float>, _ tokens: TokenRows, into y: UnsafeMutablePointer<Float>) {
        let n = Int64(tokens.count)
        if let packed {
            ck_matmul_packed_seq(pool.raw, packed.raw, x, n, Int32(tokens.sequenceLengths.count), tokens.sequenceLengths, y)
        } else {
            var (weights, outputs, height): ([UnsafeRawPointer?], [UnsafeMutablePointer<Float>?], Int64) = ([data], [y], Int64(rows))
            ck_matmul_parts_seq(pool.raw, type, 1, &weights, &height, Int64(cols), x, n,
                                Int32(tokens.sequenceLengths.count), tokens.sequenceLengths, &outputs)
        }
    }

    /// Row `index` dequantized to f32 (embedding lookup).
    func dequantizeRow(_ index: Int, into out: UnsafeMutablePointer<Float>) {
        let stride = ck_row_size(type, Int64(cols))
        ck_dequantize_row(type, data + index * stride, out, Int64(cols))
    }
}

/// A copy of weights in huge-page memory (ck_weights_copy). The source pages of a read-only
/// file mapping are given back (ck_release_mapped_pages), so resident memory does not double.
final class CopiedWeights: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let bytes: Int

    /// nil when out of memory (the caller keeps reading the source).
    init?(_ source: UnsafeRawPointer, bytes: Int) {
        guard let pointer = ck_weights_copy(source, bytes) else { return nil }
        self.pointer = pointer
        self.bytes = bytes
        ck_release_mapped_pages(source, bytes)
    }

    deinit { ck_weights_free(pointer, bytes) }
}

/// Quantized rows repacked at load into CKernels' four-row interleaved layout (owned copy, in
/// huge-page memory).
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
        // The kernels read only the packed copy: give back the source pages of a read-only file
        // mapping (an embedding lookup of a tied table faults its row in again).
        for (source, count) in parts { ck_release_mapped_pages(source, ck_row_size(type, Int64(cols)) * count) }
    }

    deinit { ck_packed_free(raw) }
}

/// Several projections of the same input (Q, K, V; gate, up) computed by one kernel call:
/// quantized weights over their stacked packed rows (then split into each projection's
/// output buffer), other types (F16, F32) by ck_matmul_parts_seq on the original rows.
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

    /// a[n x widths[0]] = X · W_0ᵀ, b (W_1), c (W_2, three-part projections only), for the
    /// n = tokens.count rows of X.
    func apply(_ pool: ComputePool, _ x: UnsafePointer<Float>, _ tokens: TokenRows,
               into a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, _ c: UnsafeMutablePointer<Float>? = nil) {
        let nTok = tokens.count
        guard let packed else {
            let weights: [UnsafeRawPointer?] = matrices.map { $0.data }
            let rows = widths.map { Int64($0) }
            let outputs: [UnsafeMutablePointer<Float>?] = [a, b, c].prefix(matrices.count).map { $0 }
            ck_matmul_parts_seq(pool.raw, matrices[0].type, Int32(matrices.count), weights, rows, Int64(matrices[0].cols),
                                x, Int64(nTok), Int32(tokens.sequenceLengths.count), tokens.sequenceLengths, outputs)
            return
        }
        // Straight into a, b (and c) where the kernels can; else through the stacked output.
        var outputs: [UnsafeMutablePointer<Float>?] = [a, b]
        if matrices.count > 2 { outputs.append(c) }
        if outputs.allSatisfy({ $0 != nil }),
           ck_matmul_packed_parts_seq(pool.raw, packed.raw, x, Int64(nTok), Int32(tokens.sequenceLengths.count),
                                      tokens.sequenceLengths, outputs) != 0 {
            return
        }
        let total = packed.rows
        if output.count < nTok * total { output = FloatBuffer(count: nTok * total) }
        ck_matmul_packed_seq(pool.raw, packed.raw, x, Int64(nTok), Int32(tokens.sequenceLengths.count), tokens.sequenceLengths,
                             output.pointer)
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

    /// y[t] += values for each of `rows` rows of values.count floats.
    func add(to y: UnsafeMutablePointer<Float>, rows: Int) {
        values.withUnsafeBufferPointer { b in
            for t in 0..<rows { ck_add(y + t * b.count, b.baseAddress, Int64(b.count)) }
        }
    }
}

/// A weight matrix with a bias: y = W x + b (BLOOM's and GPT-2's linear layers).
struct BiasedMatrix: @unchecked Sendable {
    let weight: WeightMatrix
    let bias: WeightVector

    /// "<name>.weight" and "<name>.bias" of the shard.
    init(model: PluginModel, _ name: String, rows: Int, cols: Int) throws {
        weight = try WeightMatrix(requireTensor(model, "\(name).weight"), rows: rows, cols: cols)
        bias = try WeightVector(requireTensor(model, "\(name).bias"), count: rows)
    }

    /// Y[n x rows] = X[n x cols] · Wᵀ + b for the n = tokens.count rows of X.
    func apply(_ pool: ComputePool, _ x: UnsafePointer<Float>, _ tokens: TokenRows, into y: UnsafeMutablePointer<Float>) {
        weight.apply(pool, x, tokens, into: y)
        bias.add(to: y, rows: tokens.count)
    }
}

/// A normalisation layer: RMSNorm with a weight (llama) or LayerNorm with weight and bias
/// (BLOOM, GPT-2).
enum Norm: Sendable {
    case rms(WeightVector)
    case layer(weight: WeightVector, bias: WeightVector)

    /// "<name>.weight" (and "<name>.bias" for LayerNorm) of the shard.
    init(model: PluginModel, _ name: String, width: Int, architecture: Architecture) throws {
        let weight = try WeightVector(requireTensor(model, "\(name).weight"), count: width)
        if architecture.usesRMSNorm {
            self = .rms(weight)
        } else {
            self = .layer(weight: weight, bias: try WeightVector(requireTensor(model, "\(name).bias"), count: width))
        }
    }

    /// out[t] = norm(x[t]) for `rows` rows of `width` values; out may alias x. With a pool, RMS
    /// norms of a batch are split across it (each row bit for bit the single-row function's).
    func apply(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int, width: Int, epsilon: Float,
               pool: ComputePool? = nil) {
        switch self {
        case .rms(let weight):
            weight.values.withUnsafeBufferPointer { w in
                if let pool {
                    ck_rmsnorm_rows(pool.raw, out, x, w.baseAddress, Int64(rows), Int64(width), epsilon)
                } else {
                    for t in 0..<rows { ck_rmsnorm(out + t * width, x + t * width, w.baseAddress, Int64(width), epsilon) }
                }
            }
        case .layer(let weight, let bias):
            weight.values.withUnsafeBufferPointer { w in
                bias.values.withUnsafeBufferPointer { b in
                    for t in 0..<rows {
                        ck_layernorm(out + t * width, x + t * width, w.baseAddress, b.baseAddress, Int64(width), epsilon)
                    }
                }
            }
        }
    }
}
