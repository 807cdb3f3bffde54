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
        // (F16/F32 batches take the register-blocked GEMM, whose single FMA chain per output
        // differs from the single-token dot by rounding only: see the GEMM tests below.)
        var rng = TestRandom(seed: 8)
        let pool = ck_pool_create(2)
        defer { ck_pool_destroy(pool) }
        let cols = 64, rows = 48
        for type in [WeightType.q4_0, .q4_1, .q8_0] {
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
        // The GEMV runs four weight rows per pass (F16: on activations widened once per call);
        // each row must still be the vec-dot of llama.cpp's order, bit for bit (13 rows: three
        // passes of four and one leftover).
        var rng = TestRandom(seed: 41)
        let rows = 13, cols = 256
        let pool = ck_pool_create(2)
        defer { ck_pool_destroy(pool) }
        for type in [WeightType.q4_0, .q4_1, .q8_0, .f16] {
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

    func testF16AndF32BatchesMatchADoublePrecisionReference() {
        // Batches run the register-blocked GEMM (tiles of 16 rows x 6 tokens, one FMA chain
        // per output): partial row panels (13, 37 rows), partial token panels, K from 8 to 1536.
        var rng = TestRandom(seed: 42)
        for threads in [1, 2] {
            let pool = ck_pool_create(Int32(threads))
            defer { ck_pool_destroy(pool) }
            for type in [WeightType.f16, .f32] {
                for (rows, cols, nTok) in [(13, 64, 5), (37, 8, 2), (16, 576, 6), (48, 576, 17), (37, 1536, 7), (200, 96, 64)] {
                    let w = encodeRows(rng.floats(rows * cols), type: type, cols: cols)
                    let x = rng.floats(nTok * cols, scale: 2)
                    var y = [Float](repeating: .nan, count: rows * nTok)
                    w.withUnsafeBytes { ck_matmul(pool, type.ck, $0.baseAddress, Int64(rows), Int64(cols), x, Int64(nTok), &y) }
                    let worst = worstRelativeError(y, weights: w, type: type, rows: rows, cols: cols, x: x, nTok: nTok)
                    XCTAssertLessThan(worst, 1e-5, "\(type) \(rows)x\(cols) n_tok=\(nTok) threads=\(threads)")
                }
            }
        }
    }

    func testF16AndF32BatchesAreDeterministic() {
        // A token's outputs depend only on its own activations: the same whether the batch is
        // computed again, with another thread count, or as a different span of tokens, so a
        // swarm replaying the same chunks rebuilds the same cache.
        var rng = TestRandom(seed: 43)
        let one = ck_pool_create(1), two = ck_pool_create(2)
        defer { ck_pool_destroy(one); ck_pool_destroy(two) }
        let rows = 40, cols = 192, nTok = 17
        for type in [WeightType.f16, .f32] {
            let w = encodeRows(rng.floats(rows * cols), type: type, cols: cols)
            let x = rng.floats(nTok * cols, scale: 2)
            func run(_ pool: OpaquePointer?, _ first: Int, _ count: Int) -> [Float] {
                var y = [Float](repeating: .nan, count: rows * count)
                let part = Array(x[first * cols..<(first + count) * cols])
                w.withUnsafeBytes { ck_matmul(pool, type.ck, $0.baseAddress, Int64(rows), Int64(cols), part, Int64(count), &y) }
                return y
            }
            let whole = run(two, 0, nTok)
            XCTAssertEqual(run(two, 0, nTok).map(\.bitPattern), whole.map(\.bitPattern), "\(type) again")
            XCTAssertEqual(run(one, 0, nTok).map(\.bitPattern), whole.map(\.bitPattern), "\(type) one thread")
            XCTAssertEqual(run(two, 5, 9).map(\.bitPattern), Array(whole[5 * rows..<14 * rows]).map(\.bitPattern), "\(type) span")
        }
    }

    func testMatmulPartsEqualSeparateMatmuls() {
        // Q, K and V in one call: every part's outputs are ck_matmul's on that part, bit for bit,
        // for single tokens (the dots) and batches (the GEMM's panels never span two parts).
        var rng = TestRandom(seed: 44)
        let pool = ck_pool_create(2)
        defer { ck_pool_destroy(pool) }
        let cols = 96, widths = [40, 13, 13]
        for type in [WeightType.f16, .f32, .bf16, .q8_0] {
            let parts = widths.map { encodeRows(rng.floats($0 * cols), type: type, cols: cols) }
            for nTok in [1, 2, 9] {
                let x = rng.floats(nTok * cols, scale: 2)
                var outputs = widths.map { [Float](repeating: .nan, count: $0 * nTok) }
                let p0 = UnsafeMutableRawBufferPointer.allocate(byteCount: parts.map(\.count).reduce(0, +), alignment: 64)
                defer { p0.deallocate() }
                var offsets: [Int] = [], offset = 0
                for part in parts {
                    offsets.append(offset)
                    (p0.baseAddress! + offset).copyMemory(from: part, byteCount: part.count)
                    offset += part.count
                }
                let weights: [UnsafeRawPointer?] = offsets.map { UnsafeRawPointer(p0.baseAddress! + $0) }
                let outs = outputs.indices.map { i in UnsafeMutablePointer<Float>.allocate(capacity: widths[i] * nTok) }
                defer { outs.forEach { $0.deallocate() } }
                let outPointers: [UnsafeMutablePointer<Float>?] = outs
                ck_matmul_parts(pool, type.ck, Int32(parts.count), weights, widths.map { Int64($0) }, Int64(cols), x, Int64(nTok), outPointers)
                for i in parts.indices {
                    outputs[i] = Array(UnsafeBufferPointer(start: outs[i], count: widths[i] * nTok))
                    var alone = [Float](repeating: .nan, count: widths[i] * nTok)
                    parts[i].withUnsafeBytes { ck_matmul(pool, type.ck, $0.baseAddress, Int64(widths[i]), Int64(cols), x, Int64(nTok), &alone) }
                    XCTAssertEqual(outputs[i].map(\.bitPattern), alone.map(\.bitPattern), "\(type) part \(i) n_tok=\(nTok)")
                }
            }
        }
    }
}
