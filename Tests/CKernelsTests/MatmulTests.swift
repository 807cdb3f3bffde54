import CKernels
import XCTest

final class MatmulTests: XCTestCase {
    /// Y[t][r] in double from the dequantized weights and the activations as the kernel sees them.
    private func reference(weights: [UInt8], type: WeightType, rows: Int, cols: Int, x: [Float], nTok: Int) -> [Float] {
        let rowBytes = ck_row_size(type.ck, Int64(cols))
        let actType = ck_activation_type(type.ck)
        var y = [Float](repeating: 0, count: rows * nTok)
        for t in 0..<nTok {
            let act = prepareActivation(Array(x[t * cols..<(t + 1) * cols]), weightType: type.ck)
            let a = dequantize(act, type: actType, count: cols)
            for r in 0..<rows {
                let rowBytesSlice = Array(weights[r * rowBytes..<(r + 1) * rowBytes])
                let w = dequantize(rowBytesSlice, type: type.ck, count: cols)
                var sum = zip(w, a).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                if type == .q4_1 { sum += q4_1StoredSumCorrection(weights: rowBytesSlice, activation: act) }
                y[t * rows + r] = Float(sum)
            }
        }
        return y
    }

    /// Q8_1 stores each block's d * sum(q) rounded to f16, and the Q4_1 dot uses it for the
    /// min term: m * s instead of m * d * sum(q). This is that difference, per block.
    private func q4_1StoredSumCorrection(weights: [UInt8], activation: [UInt8]) -> Double {
        var correction = 0.0
        for b in 0..<(weights.count / 20) {
            let m = Double(ck_fp16_to_fp32(UInt16(weights[b * 20 + 2]) | UInt16(weights[b * 20 + 3]) << 8))
            let block = Array(activation[b * 36..<(b + 1) * 36])
            let d = Double(ck_fp16_to_fp32(UInt16(block[0]) | UInt16(block[1]) << 8))
            let s = Double(ck_fp16_to_fp32(UInt16(block[2]) | UInt16(block[3]) << 8))
            let exact = d * Double(block[4...].reduce(0) { $0 + Int(Int8(bitPattern: $1)) })
            correction += m * (s - exact)
        }
        return correction
    }

    func testMatmulMatchesANaiveReferenceForEveryTypeBatchAndThreadCount() {
        var rng = TestRandom(seed: 7)
        let cols = 96, rows = 37 // odd row count: uneven chunks
        for threads in [1, 2] {
            let pool = ck_pool_create(Int32(threads))
            defer { ck_pool_destroy(pool) }
            for type in WeightType.allCases {
                let w = encodeRows(rng.floats(rows * cols), type: type, cols: cols)
                for nTok in [1, 3, 17] {
                    let x = rng.floats(nTok * cols, scale: 2)
                    var y = [Float](repeating: .nan, count: rows * nTok)
                    w.withUnsafeBytes { wr in
                        ck_matmul(pool, type.ck, wr.baseAddress, Int64(rows), Int64(cols), x, Int64(nTok), &y)
                    }
                    let expected = reference(weights: w, type: type, rows: rows, cols: cols, x: x, nTok: nTok)
                    // Q8 activations of the reference equal the kernel's, so quantized types agree
                    // to float rounding; f32 through BLAS likewise.
                    XCTAssertLessThan(maxAbsDiff(y, expected), 2e-3, "\(type) n_tok=\(nTok) threads=\(threads)")
                }
            }
        }
    }

    func testSingleRowResultsDoNotDependOnTheBatch() {
        // A token's output is the same whether it is computed alone or inside a batch: replaying
        // a span as one batch rebuilds exactly the cache that step-by-step decoding built.
        var rng = TestRandom(seed: 8)
        let pool = ck_pool_create(2)
        defer { ck_pool_destroy(pool) }
        let cols = 64, rows = 48
        for type in [WeightType.q4_0, .q4_1, .q8_0, .f16] {
            let w = encodeRows(rng.floats(rows * cols), type: type, cols: cols)
            let x = rng.floats(5 * cols)
            var batched = [Float](repeating: 0, count: rows * 5)
            w.withUnsafeBytes { ck_matmul(pool, type.ck, $0.baseAddress, Int64(rows), Int64(cols), x, 5, &batched) }
            for t in 0..<5 {
                var single = [Float](repeating: 0, count: rows)
                let row = Array(x[t * cols..<(t + 1) * cols])
                w.withUnsafeBytes { ck_matmul(pool, type.ck, $0.baseAddress, Int64(rows), Int64(cols), row, 1, &single) }
                XCTAssertEqual(single, Array(batched[t * rows..<(t + 1) * rows]), "\(type) token \(t)")
            }
        }
    }

    func testFourRowKernelsGiveExactlyTheSingleRowDots() {
        // The GEMV runs four weight rows per pass; each row must still be the vec-dot of
        // llama.cpp's order, bit for bit (13 rows: three passes of four and one leftover).
        var rng = TestRandom(seed: 41)
        let rows = 13, cols = 256
        let pool = ck_pool_create(2)
        defer { ck_pool_destroy(pool) }
        for type in [WeightType.q4_0, .q4_1, .q8_0] {
            let w = encodeRows(rng.floats(rows * cols), type: type, cols: cols)
            let x = rng.floats(cols, scale: 3)
            var y = [Float](repeating: .nan, count: rows)
            w.withUnsafeBytes { ck_matmul(pool, type.ck, $0.baseAddress, Int64(rows), Int64(cols), x, 1, &y) }
            let act = prepareActivation(x, weightType: type.ck)
            let rowBytes = ck_row_size(type.ck, Int64(cols))
            let single = (0..<rows).map { r in
                w.withUnsafeBytes { wr in act.withUnsafeBytes { ck_vec_dot(type.ck, Int64(cols), wr.baseAddress! + r * rowBytes, $0.baseAddress) } }
            }
            XCTAssertEqual(y.map(\.bitPattern), single.map(\.bitPattern), "\(type)")
        }
    }

    func testF16AndF32BatchTilesGiveExactlyTheSingleTokenDots() {
        // Prefill runs F16/F32 weights in tiles of 4 rows x 2 tokens, one accumulator stream at
        // a time; each output must still be the single-token dot's value, bit for bit
        // (13 rows: three groups of four and a leftover row; 5 tokens: two pairs and one).
        var rng = TestRandom(seed: 42)
        let pool = ck_pool_create(2)
        defer { ck_pool_destroy(pool) }
        for type in [WeightType.f16, .f32] {
            for cols in [64, 576] {
                let rows = 13, nTok = 5
                let w = encodeRows(rng.floats(rows * cols), type: type, cols: cols)
                let x = rng.floats(nTok * cols, scale: 2)
                var batched = [Float](repeating: .nan, count: rows * nTok)
                w.withUnsafeBytes { ck_matmul(pool, type.ck, $0.baseAddress, Int64(rows), Int64(cols), x, Int64(nTok), &batched) }
                for t in 0..<nTok {
                    let act = prepareActivation(Array(x[t * cols..<(t + 1) * cols]), weightType: type.ck)
                    let rowBytes = ck_row_size(type.ck, Int64(cols))
                    let single = (0..<rows).map { r in
                        w.withUnsafeBytes { wr in act.withUnsafeBytes { ck_vec_dot(type.ck, Int64(cols), wr.baseAddress! + r * rowBytes, $0.baseAddress) } }
                    }
                    XCTAssertEqual(Array(batched[t * rows..<(t + 1) * rows]).map(\.bitPattern), single.map(\.bitPattern), "\(type) cols=\(cols) token \(t)")
                }
            }
        }
    }
}
