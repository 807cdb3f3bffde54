import CKernels
import XCTest

/// The four-row interleaved layout the GEMV/GEMM repacks quantized weights into at load.
final class PackedWeightsTests: XCTestCase {
    private let packableTypes: [WeightType] = [.q4_0, .q4_1, .q8_0]

    /// Packs `parts` (each rows x cols of `type`) stacked into one packed matrix.
    private func pack(_ parts: [[UInt8]], rows: [Int], type: WeightType, cols: Int) -> OpaquePointer? {
        pack(parts, rows: rows, ckType: type.ck, cols: cols)
    }

    private func pack(_ parts: [[UInt8]], rows: [Int], ckType: Int32, cols: Int) -> OpaquePointer? {
        let buffers = parts.map { bytes -> UnsafeMutableRawPointer in
            let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
            bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            return p
        }
        defer { buffers.forEach { $0.deallocate() } }
        let pointers: [UnsafeRawPointer?] = buffers.map { UnsafeRawPointer($0) }
        let counts = rows.map(Int64.init)
        return ck_pack_weights(ckType, Int32(parts.count), pointers, counts, Int64(cols))
    }

    func testPackedRowsRebuildTheOriginalBytes() throws {
        var rng = TestRandom(seed: 51)
        let cols = 96, rows = [8, 4, 12]
        for type in packableTypes {
            let parts = rows.map { encodeRows(rng.floats($0 * cols), type: type, cols: cols) }
            let packed = try XCTUnwrap(pack(parts, rows: rows, type: type, cols: cols), "\(type)")
            defer { ck_packed_free(packed) }
            XCTAssertEqual(ck_packed_rows(packed), 24)
            let rowBytes = ck_row_size(type.ck, Int64(cols))
            let original = parts.flatMap { $0 }
            for r in 0..<24 {
                var row = [UInt8](repeating: 0, count: rowBytes)
                row.withUnsafeMutableBytes { ck_packed_row(packed, Int64(r), $0.baseAddress) }
                XCTAssertEqual(row, Array(original[r * rowBytes..<(r + 1) * rowBytes]), "\(type) row \(r)")
            }
        }
    }

    func testPackedMatmulIsBitIdenticalToTheGGUFLayoutMatmul() throws {
        // Same per-row accumulation order as ck_vec_dot (llama.cpp's), for one token (GEMV) and
        // batches (GEMM) of every type, one and two threads, and stacked parts (fused Q/K/V,
        // gate/up): a row gets the same bits alone or batched (continuous batching relies on it).
        var rng = TestRandom(seed: 52)
        for threads in [1, 2] {
            let pool = ck_pool_create(Int32(threads))
            defer { ck_pool_destroy(pool) }
            for type in packableTypes {
                for cols in [32, 96, 576] {
                    let rows = [16, 4, 8]
                    let total = rows.reduce(0, +)
                    let parts = rows.map { encodeRows(rng.floats($0 * cols), type: type, cols: cols) }
                    let packed = try XCTUnwrap(pack(parts, rows: rows, type: type, cols: cols))
                    defer { ck_packed_free(packed) }
                    let whole = parts.flatMap { $0 }
                    // 70: a second pass of a group's tokens (64 per pass), with a lone pair.
                    for nTok in [1, 2, 5, 17, 70] {
                        let x = rng.floats(nTok * cols, scale: 3)
                        var fast = [Float](repeating: .nan, count: nTok * total)
                        var expected = [Float](repeating: .nan, count: nTok * total)
                        ck_matmul_packed(pool, packed, x, Int64(nTok), &fast)
                        whole.withUnsafeBytes { ck_matmul(pool, type.ck, $0.baseAddress, Int64(total), Int64(cols), x, Int64(nTok), &expected) }
                        XCTAssertEqual(fast.map(\.bitPattern), expected.map(\.bitPattern), "\(type) cols=\(cols) n_tok=\(nTok) threads=\(threads)")
                        // Each part straight into its own matrix: the same bits as its columns of the stacked product.
                        var s0 = [Float](repeating: .nan, count: nTok * rows[0]), s1 = [Float](repeating: .nan, count: nTok * rows[1])
                        var s2 = [Float](repeating: .nan, count: nTok * rows[2])
                        let done = s0.withUnsafeMutableBufferPointer { p0 in
                            s1.withUnsafeMutableBufferPointer { p1 in
                                s2.withUnsafeMutableBufferPointer { p2 in
                                    ck_matmul_packed_parts_seq(pool, packed, x, Int64(nTok), 0, nil, [p0.baseAddress, p1.baseAddress, p2.baseAddress])
                                }
                            }
                        }
                        let separate = [s0, s1, s2]
                        XCTAssertEqual(done, 1, "\(type): parts of whole groups are written directly")
                        var offset = 0
                        for (part, height) in zip(separate, rows) {
                            let columns = (0..<nTok).flatMap { t in fast[(t * total + offset)..<(t * total + offset + height)] }
                            XCTAssertEqual(part.map(\.bitPattern), columns.map(\.bitPattern), "\(type) part of \(height) rows, n_tok=\(nTok)")
                            offset += height
                        }
                    }
                }
            }
        }
    }

    /// The types of llama.cpp's K-quant mixes packed from random blocks (every bit pattern of
    /// quants and packed scales): (type, name, f16 fields' offsets, column counts).
    private let randomBlockTypes: [(type: Int32, name: String, scaleOffsets: [Int], cols: [Int])] = [
        (Int32(CK_Q5_0), "Q5_0", [0], [32, 96, 576]), (Int32(CK_Q5_1), "Q5_1", [0, 2], [32, 96, 576]),
        (Int32(CK_IQ4_NL), "IQ4_NL", [0], [32, 96, 576]),
        (Int32(CK_Q2_K), "Q2_K", [80, 82], [256, 1536]), (Int32(CK_Q3_K), "Q3_K", [108], [256, 1536]),
        (Int32(CK_Q4_K), "Q4_K", [0, 2], [256, 1536]), (Int32(CK_Q5_K), "Q5_K", [0, 2], [256, 1536]),
        (Int32(CK_Q6_K), "Q6_K", [208], [256, 1536]), (Int32(CK_IQ4_XS), "IQ4_XS", [0], [256, 1536]),
    ]

    func testRandomBlockTypesRebuildAndMatchTheGGUFLayoutBitForBit() throws {
        // Rows rebuilt byte for byte; one token (GEMV) and batches (the panel GEMM or the K-quant
        // lanes over packed blocks) equal ck_matmul on the GGUF rows, one and two threads, stacked
        // parts (each K-quant part in the order of its own row count: 16 rows take Q4_K's
        // repacked order, 4 do not); the scalar path equals the SIMD one.
        var rng = TestRandom(seed: 55)
        for threads in [1, 2] {
            let pool = ck_pool_create(Int32(threads))
            defer { ck_pool_destroy(pool) }
            for t in randomBlockTypes {
                for cols in t.cols {
                    let rows = [16, 4, 8]
                    let total = rows.reduce(0, +)
                    let parts = rows.map { randomQuantRows(t.type, scaleOffsets: t.scaleOffsets, cols: cols, rows: $0, rng: &rng) }
                    let packed = try XCTUnwrap(pack(parts, rows: rows, ckType: t.type, cols: cols), t.name)
                    defer { ck_packed_free(packed) }
                    let whole = parts.flatMap { $0 }
                    let rowBytes = ck_row_size(t.type, Int64(cols))
                    for r in 0..<total {
                        var row = [UInt8](repeating: 0, count: rowBytes)
                        row.withUnsafeMutableBytes { ck_packed_row(packed, Int64(r), $0.baseAddress) }
                        XCTAssertEqual(row, Array(whole[r * rowBytes..<(r + 1) * rowBytes]), "\(t.name) row \(r)")
                    }
                    // 17 and 9: the K-quants' batch orders (llama.cpp's repacked gemm for Q4_K's parts of
                    // 8k rows, its tiled kernel from 8 tokens on).
                    for nTok in [1, 2, 3, 5, 9, 17] {
                        let x = rng.floats(nTok * cols, scale: 3)
                        var fast = [Float](repeating: .nan, count: nTok * total)
                        var expected = [Float](repeating: .nan, count: nTok * total)
                        var scalar = [Float](repeating: .nan, count: nTok * total)
                        ck_matmul_packed(pool, packed, x, Int64(nTok), &fast)
                        // Each part alone (a K-quant part's batch order depends on its own row count).
                        var offset = 0
                        for (part, height) in zip(parts, rows) {
                            var y = [Float](repeating: .nan, count: nTok * height)
                            part.withUnsafeBytes { ck_matmul(pool, t.type, $0.baseAddress, Int64(height), Int64(cols), x, Int64(nTok), &y) }
                            for tok in 0..<nTok { for r in 0..<height { expected[tok * total + offset + r] = y[tok * height + r] } }
                            offset += height
                        }
                        withScalarKernels { ck_matmul_packed(pool, packed, x, Int64(nTok), &scalar) }
                        let what = "\(t.name) cols=\(cols) n_tok=\(nTok) threads=\(threads)"
                        XCTAssertEqual(fast.map(\.bitPattern), expected.map(\.bitPattern), what)
                        XCTAssertEqual(scalar.map(\.bitPattern), expected.map(\.bitPattern), "\(what), scalar")
                    }
                    // Sequences batched together keep the bits each has alone (ck_matmul_packed_seq).
                    let segments: [Int64] = [5, 1, 9, 2]
                    let nTok = Int(segments.reduce(0, +))
                    let x = rng.floats(nTok * cols, scale: 3)
                    var batched = [Float](repeating: .nan, count: nTok * total)
                    ck_matmul_packed_seq(pool, packed, x, Int64(nTok), Int32(segments.count), segments, &batched)
                    var start = 0
                    for n in segments.map(Int.init) {
                        var solo = [Float](repeating: .nan, count: n * total)
                        Array(x[(start * cols)..<((start + n) * cols)]).withUnsafeBufferPointer {
                            ck_matmul_packed(pool, packed, $0.baseAddress, Int64(n), &solo)
                        }
                        XCTAssertEqual(Array(batched[(start * total)..<((start + n) * total)]).map(\.bitPattern), solo.map(\.bitPattern),
                                       "\(t.name) cols=\(cols): a sequence of \(n) in a batch of \(nTok)")
                        start += n
                    }
                }
            }
        }
    }

    func testTheAVX512VNNITilesGiveTheBitsOfTheAVX2Kernels() throws {
        // vpdpbusd's four-product sums equal maddubs + madd's while maddubs cannot saturate: checked
        // on every bit pattern of Q4_1 / Q8_0 blocks (Q8_0's -128 among them, and a row of Q4_1's
        // largest nibbles) against activations that quantize to +-127, for every tile size (1-8
        // tokens, 9 as 4 + 5, 16 as 8 + 8, 70 across the 64-token pass), stacked parts, 1 and 2 threads.
        guard ck_cpu_has_avx512_vnni() != 0 else { throw XCTSkip("this CPU has no AVX-512 VNNI") }
        var rng = TestRandom(seed: 56)
        for threads in [1, 2] {
            let pool = ck_pool_create(Int32(threads))
            defer { ck_pool_destroy(pool) }
            for (type, scaleOffsets) in [(Int32(CK_Q4_1), [0, 2]), (Int32(CK_Q8_0), [0])] {
                for cols in [32, 96, 576] {
                    let rows = [16, 4, 8]
                    let total = rows.reduce(0, +)
                    var parts = rows.map { randomQuantRows(type, scaleOffsets: scaleOffsets, cols: cols, rows: $0, rng: &rng) }
                    if type == Int32(CK_Q4_1) { // row 0: every nibble 15
                        let blockBytes = ck_row_size(type, 32)
                        for b in 0..<(cols / 32) { for k in 4..<blockBytes { parts[0][b * blockBytes + k] = 0xff } }
                    }
                    let packed = try XCTUnwrap(pack(parts, rows: rows, ckType: type, cols: cols))
                    defer { ck_packed_free(packed) }
                    let whole = parts.flatMap { $0 }
                    for nTok in Array(1...9) + [16, 70] {
                        // Odd tokens: every value +-3 (all quants +-127); even ones: random.
                        let x = (0..<(nTok * cols)).map { i -> Float in
                            (i / cols) % 2 == 1 ? (i % 3 == 0 ? -3 : 3) : rng.float(3)
                        }
                        var wide = [Float](repeating: .nan, count: nTok * total)
                        var avx2 = wide, expected = wide
                        ck_matmul_packed(pool, packed, x, Int64(nTok), &wide)
                        withAVX2Kernels { ck_matmul_packed(pool, packed, x, Int64(nTok), &avx2) }
                        whole.withUnsafeBytes { ck_matmul(pool, type, $0.baseAddress, Int64(total), Int64(cols), x, Int64(nTok), &expected) }
                        let what = "\(type == Int32(CK_Q4_1) ? "Q4_1" : "Q8_0") cols=\(cols) n_tok=\(nTok) threads=\(threads)"
                        XCTAssertEqual(wide.map(\.bitPattern), avx2.map(\.bitPattern), what)
                        XCTAssertEqual(wide.map(\.bitPattern), expected.map(\.bitPattern), "\(what), GGUF layout")
                    }
                }
            }
        }
    }

    func testQ8_0BatchesAreDeterministic() throws {
        // A token's outputs depend only on its own activations: the same with another thread
        // count or as another span of the batch (a swarm replaying the same chunks rebuilds the
        // same cache).
        var rng = TestRandom(seed: 55)
        let one = ck_pool_create(1), two = ck_pool_create(2)
        defer { ck_pool_destroy(one); ck_pool_destroy(two) }
        let rows = 44, cols = 192, nTok = 11
        let w = encodeRows(rng.floats(rows * cols), type: .q8_0, cols: cols)
        let packed = try XCTUnwrap(pack([w], rows: [rows], type: .q8_0, cols: cols))
        defer { ck_packed_free(packed) }
        let x = rng.floats(nTok * cols, scale: 2)
        func run(_ pool: OpaquePointer?, _ first: Int, _ count: Int) -> [UInt32] {
            var y = [Float](repeating: .nan, count: rows * count)
            ck_matmul_packed(pool, packed, Array(x[first * cols..<(first + count) * cols]), Int64(count), &y)
            return y.map(\.bitPattern)
        }
        let whole = run(two, 0, nTok)
        XCTAssertEqual(run(one, 0, nTok), whole, "one thread")
        XCTAssertEqual(run(two, 3, 6), Array(whole[3 * rows..<9 * rows]), "span")
    }

    func testPackedMatmulWithScalarKernelsEqualsTheReferenceDots() throws {
        var rng = TestRandom(seed: 53)
        let cols = 128, rows = 12
        for type in packableTypes {
            let w = encodeRows(rng.floats(rows * cols), type: type, cols: cols)
            let packed = try XCTUnwrap(pack([w], rows: [rows], type: type, cols: cols))
            defer { ck_packed_free(packed) }
            let x = rng.floats(2 * cols, scale: 2)
            var y = [Float](repeating: .nan, count: 2 * rows)
            withScalarKernels { ck_matmul_packed(nil, packed, x, 2, &y) }
            for t in 0..<2 {
                let act = withScalarKernels { prepareActivation(Array(x[t * cols..<(t + 1) * cols]), weightType: type.ck) }
                let rowBytes = ck_row_size(type.ck, Int64(cols))
                for r in 0..<rows {
                    let reference = w.withUnsafeBytes { wr in
                        act.withUnsafeBytes { ck_vec_dot_ref(type.ck, Int64(cols), wr.baseAddress! + r * rowBytes, $0.baseAddress) }
                    }
                    XCTAssertEqual(y[t * rows + r].bitPattern, reference.bitPattern, "\(type) token \(t) row \(r)")
                }
            }
        }
    }

    func testShapesWithoutAPackedKernelAreRefused() {
        var rng = TestRandom(seed: 54)
        let q = encodeRows(rng.floats(6 * 64), type: .q8_0, cols: 64)
        XCTAssertNil(pack([q], rows: [6], type: .q8_0, cols: 64), "rows not a multiple of 4")
        let f = encodeRows(rng.floats(4 * 64), type: .f32, cols: 64)
        XCTAssertNil(pack([f], rows: [4], type: .f32, cols: 64), "f32 has no packed layout")
        XCTAssertEqual(ck_packed_type_supported(Int32(CK_F16)), 0)
    }
}
