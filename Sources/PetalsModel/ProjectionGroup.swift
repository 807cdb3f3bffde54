import PluginAPI

/// Matrices that multiply the same input (Q, K and V; gate and up): stacked into one
/// ``FusedProjection`` when their types and widths allow (one kernel call per step), otherwise
/// each packed and multiplied on its own (a K-quant mix can give its parts different types).
struct ProjectionGroup: @unchecked Sendable {
    let matrices: [WeightMatrix]
    private let fused: FusedProjection?

    /// Each part's tensor and row count; every part takes `cols` inputs.
    init(_ parts: [(tensor: TensorView, rows: Int)], cols: Int) throws {
        let unpacked = try parts.map { try WeightMatrix($0.tensor, rows: $0.rows, cols: cols, pack: false) }
        fused = FusedProjection(unpacked)
        matrices = fused != nil ? unpacked : try parts.map { try WeightMatrix($0.tensor, rows: $0.rows, cols: cols) }
    }

    /// outputs[i][n x rows_i] = X · W_iᵀ for the n = tokens.count rows of X, one output per part.
    func apply(_ pool: ComputePool, _ x: UnsafePointer<Float>, _ tokens: TokenRows,
               into outputs: UnsafeMutablePointer<Float>...) {
        precondition(outputs.count == matrices.count, "one output per projection")
        if let fused {
            fused.apply(pool, x, tokens, into: outputs[0], outputs[1], outputs.count > 2 ? outputs[2] : nil)
        } else {
            for (matrix, y) in zip(matrices, outputs) { matrix.apply(pool, x, tokens, into: y) }
        }
    }
}
