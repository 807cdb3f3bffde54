import CKernels
import XCTest

/// The kernels of the types llama.cpp's K-quant files use (Q2_K ... Q6_K, Q5_0, Q5_1, IQ4_NL,
/// IQ4_XS): the AVX2 dots against their scalar references (bit for bit: both compute llama.cpp's
/// lanes and chains), the four-row kernels and batches against the single-row dot, and every
/// dot against a double-precision dot of the dequantized rows. (Against llama.cpp's own kernels:
/// scripts/reference/check_kernels_vs_ggml.sh, which needs the reference build.)
final class KQuantKernelTests: XCTestCase {
    /// (type, f16 scale fields' byte offsets in a block) for random, valid blocks.
    static let types: [(type: Int32, name: String, scaleOffsets: [Int])] = [
        (Int32(CK_Q5_0), "Q5_0", [0]), (Int32(CK_Q5_1), "Q5_1", [0, 2]), (Int32(CK_IQ4_NL), "IQ4_NL", [0]),
        (Int32(CK_Q2_K), "Q2_K", [80, 82]), (Int32(CK_Q3_K), "Q3_K", [108]), (Int32(CK_Q4_K), "Q4_K", [0, 2]),
        (Int32(CK_Q5_K), "Q5_K", [0, 2]), (Int32(CK_Q6_K), "Q6_K", [208]), (Int32(CK_IQ4_XS), "IQ4_XS", [0]),
    ]

    func testSIMDDotsEqualTheScalarReferencesBitForBit() throws {
        try XCTSkipUnless(ck_cpu_has_avx2_fma_f16c() != 0, "CPU without AVX2/FMA/F16C: only the references run")
        var rng = TestRandom(seed: 20)
        for t in Self.types {
            for n in [256, 512, 1536, 2048] {
                for trial in 0..<4 {
                    let w = randomQuantRows(t.type, scaleOffsets: t.scaleOffsets, cols: n, rows: 1, rng: &rng)
                    let a = prepareActivation(rng.floats(n, scale: trial == 0 ? 40 : 2), weightType: t.type)
                    let (fast, reference) = w.withUnsafeBytes { wr in
                        a.withUnsafeBytes { ar in
                            (ck_vec_dot(t.type, Int64(n), wr.baseAddress, ar.baseAddress),
                             ck_vec_dot_ref(t.type, Int64(n), wr.baseAddress, ar.baseAddress))
                        }
                    }
                    XCTAssertEqual(fast.bitPattern, reference.bitPattern, "\(t.name) n=\(n): \(fast) vs \(reference)")
                }
            }
        }
    }

    func testDotsEqualTheDoublePrecisionDotOfTheDequantizedRows() {
        var rng = TestRandom(seed: 21)
        for t in Self.types {
            let n = 1536
            let w = randomQuantRows(t.type, scaleOffsets: t.scaleOffsets, cols: n, rows: 1, rng: &rng)
            let x = rng.floats(n, scale: 3)
            let actType = ck_activation_type(t.type)
            let a = prepareActivation(x, weightType: t.type)
            let wf = dequantize(w, type: t.type, count: n), af = dequantize(a, type: actType, count: n)
            let exact = zip(wf, af).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let magnitude = zip(wf, af).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
            for scalar in [true, false] {
                ck_set_force_scalar(scalar ? 1 : 0)
                let dot = w.withUnsafeBytes { wr in a.withUnsafeBytes { ck_vec_dot(t.type, Int64(n), wr.baseAddress, $0.baseAddress) } }
                // Exact integer block sums; only the f32 scale products and sums round (and, for
                // Q5_1, the f16 sums s = d * sum(q) of its Q8_1 activations).
                let tolerance = t.type == Int32(CK_Q5_1) ? 1e-4 : 1e-6
                XCTAssertEqual(Double(dot), exact, accuracy: tolerance * magnitude, "\(t.name) scalar=\(scalar)")
            }
            ck_set_force_scalar(0)
        }
    }

    /// y = W x of `nTok` tokens as one sequence (ck_matmul) or as several (ck_matmul_parts_seq).
    func matmul(_ pool: OpaquePointer?, _ t: Int32, _ w: [UInt8], rows: Int, cols: Int, _ x: [Float], nTok: Int,
                segments: [Int]? = nil) -> [Float] {
        var y = [Float](repeating: 0, count: nTok * rows)
        w.withUnsafeBytes { wr in
            y.withUnsafeMutableBufferPointer { yb in
                if let segments {
                    let lengths = segments.map { Int64($0) }
                    var weights: [UnsafeRawPointer?] = [wr.baseAddress]
                    var outputs: [UnsafeMutablePointer<Float>?] = [yb.baseAddress]
                    var rowCounts = [Int64(rows)]
                    ck_matmul_parts_seq(pool, t, 1, &weights, &rowCounts, Int64(cols), x, Int64(nTok), Int32(lengths.count),
                                        lengths, &outputs)
                } else {
                    ck_matmul(pool, t, wr.baseAddress, Int64(rows), Int64(cols), x, Int64(nTok), yb.baseAddress)
                }
            }
        }
        return y
    }

    func singleRowDot(_ t: Int32, _ w: [UInt8], row: Int, cols: Int, _ x: ArraySlice<Float>) -> Float {
        let a = prepareActivation(Array(x), weightType: t)
        let rowBytes = ck_row_size(t, Int64(cols))
        return w.withUnsafeBytes { wr in a.withUnsafeBytes { ck_vec_dot(t, Int64(cols), wr.baseAddress! + row * rowBytes, $0.baseAddress) } }
    }

    /// Batches follow llama.cpp's batch kernels (bit for bit against llama.cpp itself:
    /// scripts/reference/check_matmul_vs_ggml.sh): up to 3 tokens (but Q2_K, which llama.cpp
    /// repacks on AVX-512 CPUs), and for matrices llama.cpp does not repack any batch under 8
    /// tokens, is the single-row dot; from 8 tokens K-quants take
    /// the tiled kernel's order, whose sums round differently; every order stays within rounding
    /// of the exact dot, and the scalar references give the same bits as the AVX2 kernels.
    func testMatmulBatchesTakeLlamaCppsOrderAndScalarEqualsSIMD() {
        var rng = TestRandom(seed: 22)
        let cols = 512
        let pool = ck_pool_create(2)
        defer { ck_pool_destroy(pool) }
        for t in Self.types {
            // 16: the repacked layout llama.cpp gives Q4_K (and Q2_K on AVX-512); 13: a last
            // group of one row in the 4-row kernels.
            for rows in [12, 13, 16] {
                let w = randomQuantRows(t.type, scaleOffsets: t.scaleOffsets, cols: cols, rows: rows, rng: &rng)
                let x = rng.floats(13 * cols, scale: 2)
                var changed = 0
                for nTok in [1, 3, 5, 8, 13] {
                    let y = matmul(pool, t.type, w, rows: rows, cols: cols, x, nTok: nTok)
                    ck_set_force_scalar(1)
                    let reference = matmul(pool, t.type, w, rows: rows, cols: cols, x, nTok: nTok)
                    ck_set_force_scalar(0)
                    XCTAssertEqual(y.map(\.bitPattern), reference.map(\.bitPattern), "\(t.name) rows \(rows) n \(nTok): scalar vs SIMD")
                    let wf = dequantize(w, type: t.type, count: rows * cols)
                    for tok in 0..<nTok {
                        let xs = x[(tok * cols)..<((tok + 1) * cols)]
                        let af = dequantize(prepareActivation(Array(xs), weightType: t.type), type: ck_activation_type(t.type), count: cols)
                        for r in 0..<rows {
                            let got = y[tok * rows + r]
                            let dot = singleRowDot(t.type, w, row: r, cols: cols, xs)
                            if got.bitPattern != dot.bitPattern { changed += 1 }
                            if (nTok < 4 && t.type != Int32(CK_Q2_K)) || (nTok < 8 && rows % 8 != 0) || !isKQuant(t.type) {
                                XCTAssertEqual(got.bitPattern, dot.bitPattern, "\(t.name) token \(tok) row \(r) of \(nTok)")
                            }
                            let products = (0..<cols).map { Double(wf[r * cols + $0]) * Double(af[$0]) }
                            let exact = products.reduce(0, +), magnitude = products.reduce(0) { $0 + abs($1) }
                            XCTAssertEqual(Double(got), exact, accuracy: 1e-5 * magnitude + 1e-6, "\(t.name) token \(tok) row \(r)")
                        }
                    }
                }
                if isKQuant(t.type) {
                    XCTAssertGreaterThan(changed, 0, "\(t.name) rows \(rows): batches of 8+ tokens sum in the batch kernel's order")
                }
            }
        }
    }

    func isKQuant(_ type: Int32) -> Bool { ck_activation_type(type) == Int32(CK_Q8_K) }

    /// Several sequences in one call keep the bits each has alone (batching must not change a
    /// sequence's results), whatever their lengths around llama.cpp's thresholds (4 and 8).
    func testSequencesInOneBatchKeepTheirSoloResults() {
        var rng = TestRandom(seed: 24)
        let cols = 512, rows = 16, segments = [5, 1, 8, 3, 13, 4]
        let nTok = segments.reduce(0, +)
        let pool = ck_pool_create(2)
        defer { ck_pool_destroy(pool) }
        for t in Self.types {
            let w = randomQuantRows(t.type, scaleOffsets: t.scaleOffsets, cols: cols, rows: rows, rng: &rng)
            let x = rng.floats(nTok * cols, scale: 2)
            let batched = matmul(pool, t.type, w, rows: rows, cols: cols, x, nTok: nTok, segments: segments)
            var start = 0
            for n in segments {
                let solo = matmul(pool, t.type, w, rows: rows, cols: cols, Array(x[(start * cols)..<((start + n) * cols)]), nTok: n)
                XCTAssertEqual(Array(batched[(start * rows)..<((start + n) * rows)]).map(\.bitPattern), solo.map(\.bitPattern),
                               "\(t.name): a sequence of \(n) tokens in a batch of \(nTok)")
                start += n
            }
        }
    }

    func testQ8KActivationsKeepEveryValueWithinHalfAStep() {
        var rng = TestRandom(seed: 23)
        let n = 512
        var x = rng.floats(n, scale: 5)
        x[300] = -9 // the value of largest magnitude maps to -127 (d takes its sign)
        var blocks = [ck_block_q8_K](repeating: ck_block_q8_K(), count: n / 256)
        ck_quantize_row_q8_K(x, &blocks, Int64(n))
        let back = blocks.withUnsafeBytes { raw in dequantize(Array(raw), type: Int32(CK_Q8_K), count: n) }
        for b in 0..<2 {
            let block = blocks[b]
            let chunk = x[(b * 256)..<((b + 1) * 256)]
            let amax = chunk.map(abs).max() ?? 0
            XCTAssertEqual(abs(block.d), amax / 127, accuracy: amax * 1e-6)
            for i in chunk.indices { XCTAssertEqual(back[i], x[i], accuracy: abs(block.d) / 2 * 1.0001) }
            let qs = withUnsafeBytes(of: block.qs) { Array($0.bindMemory(to: Int8.self)) }
            let sums = withUnsafeBytes(of: block.bsums) { Array($0.bindMemory(to: Int16.self)) }
            for g in 0..<16 { XCTAssertEqual(Int(sums[g]), qs[(g * 16)..<(g * 16 + 16)].reduce(0) { $0 + Int($1) }) }
        }
        XCTAssertEqual(withUnsafeBytes(of: blocks[1].qs) { Int8(bitPattern: $0[300 - 256]) }, -127)
        XCTAssertGreaterThan(blocks[1].d, 0)
    }
}
