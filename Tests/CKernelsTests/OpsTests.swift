import CKernels
import Foundation
import XCTest

final class OpsTests: XCTestCase {
    func testRMSNormMatchesTheDefinition() {
        var rng = TestRandom(seed: 21)
        let x = rng.floats(576, scale: 3), w = rng.floats(576)
        var out = [Float](repeating: 0, count: 576)
        ck_rmsnorm(&out, x, w, 576, 1e-5)
        let rms = (x.reduce(0.0) { $0 + Double($1 * $1) } / 576 + 1e-5).squareRoot()
        XCTAssertLessThan(maxAbsDiff(out, (0..<576).map { Float(Double(x[$0]) / rms) * w[$0] }), 1e-5)
    }

    func testLayerNormCentresAndScales() {
        var rng = TestRandom(seed: 22)
        let x = rng.floats(128, scale: 5).map { $0 + 3 }, w = rng.floats(128), b = rng.floats(128)
        var out = [Float](repeating: 0, count: 128)
        ck_layernorm(&out, x, w, b, 128, 1e-5)
        let mean = x.reduce(0.0) { $0 + Double($1) } / 128
        let variance = x.reduce(0.0) { $0 + pow(Double($1) - mean, 2) } / 128
        let expected = (0..<128).map { Float((Double(x[$0]) - mean) / (variance + 1e-5).squareRoot()) * w[$0] + b[$0] }
        XCTAssertLessThan(maxAbsDiff(out, expected), 1e-4)
    }

    func testSoftmaxSumsToOneAndKeepsOrder() {
        var x: [Float] = [1, 2, 3, -1000, 50]
        ck_softmax(&x, 5)
        XCTAssertEqual(x.reduce(0, +), 1, accuracy: 1e-6)
        XCTAssertEqual(x[3], 0)
        XCTAssertEqual(x[4], 1, accuracy: 1e-6)
        XCTAssertLessThan(x[0], x[1])
    }

    func testSiLUGatingAndGELU() {
        var gate: [Float] = [-2, 0, 1, 3], up: [Float] = [1, 5, 2, -1]
        ck_silu_mul(&gate, up, 4)
        let silu = { (v: Float) in v / (1 + exp(-v)) }
        XCTAssertLessThan(maxAbsDiff(gate, [silu(-2), 0, silu(1) * 2, -silu(3)]), 1e-6)
        var g: [Float] = [-3, -0.5, 0, 0.5, 3]
        ck_gelu(&g, 5)
        let exact = [-3, -0.5, 0, 0.5, 3].map { (v: Double) in Float(0.5 * v * (1 + erf(v / 2.0.squareRoot()))) }
        XCTAssertLessThan(maxAbsDiff(g, exact), 2e-3, "tanh approximation of GELU")
        var e: [Float] = [-3, -0.5, 0, 0.5, 3]
        ck_gelu_erf(&e, 5)
        XCTAssertLessThan(maxAbsDiff(e, exact), 1e-6, "GELU with erf")
        // The tanh form is GPT-2's gelu_new: 0.5 v (1 + tanh(sqrt(2/pi) (v + 0.044715 v^3))).
        let newGELU = [-3, -0.5, 0, 0.5, 3].map { (v: Double) in
            Float(0.5 * v * (1 + tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v))))
        }
        XCTAssertLessThan(maxAbsDiff(g, newGELU), 1e-6)
    }

    /// RoPE by the textbook formula in double.
    private func ropeReference(_ x: [Float], heads: Int, headDim: Int, ropeDims: Int, pos: Int, base: Float, neox: Bool) -> [Float] {
        var out = x
        for h in 0..<heads {
            for i in 0..<(ropeDims / 2) {
                let theta = Double(pos) * pow(Double(base), -2 * Double(i) / Double(ropeDims))
                let (a, b) = neox ? (h * headDim + i, h * headDim + i + ropeDims / 2) : (h * headDim + 2 * i, h * headDim + 2 * i + 1)
                out[a] = Float(Double(x[a]) * cos(theta) - Double(x[b]) * sin(theta))
                out[b] = Float(Double(x[a]) * sin(theta) + Double(x[b]) * cos(theta))
            }
        }
        return out
    }

    func testRoPERotatesPairsInBothStyles() {
        var rng = TestRandom(seed: 23)
        for neox in [false, true] {
            for (pos, ropeDims) in [(0, 64), (1, 64), (17, 64), (300, 64), (5, 32)] {
                let x = rng.floats(3 * 64)
                var y = x
                ck_rope(&y, 3, 64, Int64(ropeDims), Int64(pos), 100_000, neox ? Int32(CK_ROPE_NEOX) : Int32(CK_ROPE_NORMAL))
                let expected = ropeReference(x, heads: 3, headDim: 64, ropeDims: ropeDims, pos: pos, base: 100_000, neox: neox)
                XCTAssertLessThan(maxAbsDiff(y, expected), 2e-4 * Float(max(pos, 1)).squareRoot(), "neox=\(neox) pos=\(pos) dims=\(ropeDims)")
                if ropeDims < 64 { XCTAssertEqual(y[63], x[63], "dims past rope_dims stay") }
            }
        }
    }

    func testALiBiSlopesOfBLOOM() {
        var slopes = [Float](repeating: 0, count: 8)
        ck_alibi_slopes(8, &slopes)
        XCTAssertLessThan(maxAbsDiff(slopes, (1...8).map { pow(2, -Float($0)) }), 1e-7)
        var twelve = [Float](repeating: 0, count: 12)
        ck_alibi_slopes(12, &twelve)
        XCTAssertEqual(twelve[8], pow(2, -0.5), accuracy: 1e-6) // interleaved from 2^(-4/8)
        XCTAssertEqual(twelve[9], pow(2, -1.5), accuracy: 1e-6)
    }

    func testBatchedOpsAcrossThePoolEqualTheSingleRowOnes() {
        // rmsnorm, RoPE, SwiGLU and the residual add over a batch, split across two threads,
        // give each row exactly what the single-row functions give it (a length that is not a
        // multiple of 8 included).
        var rng = TestRandom(seed: 24)
        let pool = ck_pool_create(2)
        defer { ck_pool_destroy(pool) }
        let rows = 37, n = 576, heads = 9, kvHeads = 3, headDim = 64
        let x = rng.floats(rows * n, scale: 3), weight = rng.floats(n)
        var batched = [Float](repeating: .nan, count: rows * n), single = batched
        ck_rmsnorm_rows(pool, &batched, x, weight, Int64(rows), Int64(n), 1e-5)
        for r in 0..<rows {
            single.withUnsafeMutableBufferPointer { out in
                x.withUnsafeBufferPointer { ck_rmsnorm(out.baseAddress! + r * n, $0.baseAddress! + r * n, weight, Int64(n), 1e-5) }
            }
        }
        XCTAssertEqual(batched.map(\.bitPattern), single.map(\.bitPattern), "rmsnorm")

        for style in [Int32(CK_ROPE_NORMAL), Int32(CK_ROPE_NEOX)] {
            var q = rng.floats(rows * heads * headDim), k = rng.floats(rows * kvHeads * headDim)
            var q1 = q, k1 = k
            ck_rope_rows(pool, &q, &k, Int64(rows), 11, Int64(heads), Int64(kvHeads), Int64(headDim), 64, 10_000, style)
            for t in 0..<rows {
                q1.withUnsafeMutableBufferPointer { ck_rope($0.baseAddress! + t * heads * headDim, Int64(heads), Int64(headDim), 64, Int64(11 + t), 10_000, style) }
                k1.withUnsafeMutableBufferPointer { ck_rope($0.baseAddress! + t * kvHeads * headDim, Int64(kvHeads), Int64(headDim), 64, Int64(11 + t), 10_000, style) }
            }
            XCTAssertEqual(q.map(\.bitPattern), q1.map(\.bitPattern), "rope q style \(style)")
            XCTAssertEqual(k.map(\.bitPattern), k1.map(\.bitPattern), "rope k style \(style)")
            // Each row at a position of its own (a batch's sequences): as ck_rope at that position.
            let positions: [Int64] = (0..<rows).map { row -> Int64 in
                let spread: Int = (row * 29) % 17 + (row % 3) * 100
                return Int64(spread)
            }
            var q2 = rng.floats(rows * heads * headDim), k2 = rng.floats(rows * kvHeads * headDim)
            var q3 = q2, k3 = k2
            ck_rope_rows_at(pool, &q2, &k2, Int64(rows), positions, Int64(heads), Int64(kvHeads), Int64(headDim), 64, 10_000, style)
            for t in 0..<rows {
                q3.withUnsafeMutableBufferPointer { ck_rope($0.baseAddress! + t * heads * headDim, Int64(heads), Int64(headDim), 64, positions[t], 10_000, style) }
                k3.withUnsafeMutableBufferPointer { ck_rope($0.baseAddress! + t * kvHeads * headDim, Int64(kvHeads), Int64(headDim), 64, positions[t], 10_000, style) }
            }
            XCTAssertEqual(q2.map(\.bitPattern), q3.map(\.bitPattern), "rope at positions, q style \(style)")
            XCTAssertEqual(k2.map(\.bitPattern), k3.map(\.bitPattern), "rope at positions, k style \(style)")
        }

        let count = 9 * 4096 + 5
        let up = rng.floats(count, scale: 4), other = rng.floats(count)
        var gate = rng.floats(count, scale: 4)
        var gate1 = gate
        ck_silu_mul_pool(pool, &gate, up, Int64(count))
        ck_silu_mul(&gate1, up, Int64(count))
        XCTAssertEqual(gate.map(\.bitPattern), gate1.map(\.bitPattern), "silu_mul")
        var sum = gate, sum1 = gate
        ck_add_pool(pool, &sum, other, Int64(count))
        ck_add(&sum1, other, Int64(count))
        XCTAssertEqual(sum.map(\.bitPattern), sum1.map(\.bitPattern), "add")
    }

    func testPooledSumReadsEveryValueOnce() {
        let pool = ck_pool_create(2)
        defer { ck_pool_destroy(pool) }
        // Small integers sum exactly in f32 partials, so a value read twice or missed shows.
        for n in [0, 1, 31, 33, 65_536, 200_003] {
            let x = (0..<n).map { Float($0 % 7) }
            let expected = x.reduce(0.0) { $0 + Double($1) }
            XCTAssertEqual(ck_sum_pool(pool, x, Int64(n)), expected, "n \(n)")
            XCTAssertEqual(ck_sum_pool(nil, x, Int64(n)), expected, "n \(n), no pool")
        }
    }

    func testArgmaxIsTheFirstMaximumAScanFinds() {
        // The greedy sampler's rule: best = 0, then i whenever x[i] > x[best]. Ties keep the first,
        // -0 and +0 tie, a NaN is never picked unless it is x[0]; SIMD and scalar paths alike.
        func scan(_ x: [Float]) -> Int {
            var best = 0
            for i in x.indices where x[i] > x[best] { best = i }
            return best
        }
        var rng = TestRandom(seed: 71)
        var cases: [[Float]] = [[], [1], [.nan, 3, 4], [2, .nan, 5, .nan], [-0.0, 0.0, 0.0], [0.0, -0.0],
                                [-.infinity, -.infinity], Array(repeating: 7, count: 19)]
        for n in [1, 7, 8, 9, 16, 17, 40, 49152] {
            var x = (0..<n).map { _ in rng.float(4) }
            cases.append(x)
            let top = x.max()!
            x[n / 2] = top            // a tie with the maximum, later or earlier
            x[n - 1] = top
            cases.append(x)
            x[n / 3] = .nan
            cases.append(x)
            cases.append(x.map { ($0 * 2).rounded() / 2 }) // many ties
        }
        for x in cases {
            let expected = scan(x)
            let simd = x.withUnsafeBufferPointer { Int(ck_argmax($0.baseAddress, Int64($0.count))) }
            let scalar = withScalarKernels { x.withUnsafeBufferPointer { Int(ck_argmax($0.baseAddress, Int64($0.count))) } }
            XCTAssertEqual(simd, expected, "n=\(x.count) \(x.prefix(6))")
            XCTAssertEqual(scalar, expected, "scalar, n=\(x.count)")
        }
    }
}
