import CKernels
import PetalsModel

/// Micro-benchmarks of the matrix kernels on synthetic weights of each type.
enum KernelBench {
    struct Result: Codable {
        var type: String
        var gemvGBps: Double
        /// The GEMV over the same rows packed at load as a model holds them (ck_pack_weights),
        /// nil for the types that stay in GGUF's row layout.
        var packedGemvGBps: Double?
        /// The read test run just before this kernel's GEMV (a shared machine's bandwidth drifts).
        var readGBps: Double
        var gemvFractionOfBandwidth: Double
        var prefillGFLOPs: [String: Double]
    }

    static let types: [(Int32, String)] = [(Int32(CK_Q4_0), "Q4_0"), (Int32(CK_Q4_1), "Q4_1"), (Int32(CK_Q8_0), "Q8_0"),
                                           (Int32(CK_F16), "F16"), (Int32(CK_F32), "F32"),
                                           (Int32(CK_Q5_0), "Q5_0"), (Int32(CK_Q5_1), "Q5_1"), (Int32(CK_IQ4_NL), "IQ4_NL"),
                                           (Int32(CK_Q2_K), "Q2_K"), (Int32(CK_Q3_K), "Q3_K"), (Int32(CK_Q4_K), "Q4_K"),
                                           (Int32(CK_Q5_K), "Q5_K"), (Int32(CK_Q6_K), "Q6_K"), (Int32(CK_IQ4_XS), "IQ4_XS")]

    /// Weights of `type`, rows x cols, from a fixed pseudo-random pattern, in weight memory
    /// (huge pages, as a loaded model's); free with `freeWeights`. Types without a quantizer here
    /// (the K-quants, Q5_0, Q5_1, IQ4_NL) get pseudo-random blocks: the kernels' speed does not
    /// depend on the values.
    static func makeWeights(type: Int32, rows: Int, cols: Int) -> UnsafeMutableRawPointer {
        let rowBytes = ck_row_size(type, Int64(cols))
        guard let weights = ck_weights_alloc(rowBytes * rows) else { fatalError("out of memory for \(rows)x\(cols) weights") }
        var source = [Float](repeating: 0, count: cols)
        var rng = SeededGenerator(seed: UInt64(type) + 1)
        if ![CK_Q4_0, CK_Q4_1, CK_Q8_0, CK_F16, CK_F32].contains(Int(type)) {
            for i in 0..<(rowBytes * rows) { weights.storeBytes(of: UInt8(truncatingIfNeeded: rng.next() % 0x7b), toByteOffset: i, as: UInt8.self) }
            return weights
        }
        for r in 0..<rows {
            for c in 0..<cols { source[c] = Float(Int(rng.next() % 2001) - 1000) / 1000 }
            let out = weights + r * rowBytes
            source.withUnsafeBufferPointer { x in
                let p = x.baseAddress!
                switch Int(type) {
                case Int(CK_Q4_0): ck_quantize_row_q4_0(p, out.assumingMemoryBound(to: ck_block_q4_0.self), Int64(cols))
                case Int(CK_Q4_1): ck_quantize_row_q4_1(p, out.assumingMemoryBound(to: ck_block_q4_1.self), Int64(cols))
                case Int(CK_Q8_0): ck_quantize_row_q8_0(p, out.assumingMemoryBound(to: ck_block_q8_0.self), Int64(cols))
                case Int(CK_F16): ck_fp32_to_fp16_row(p, out.assumingMemoryBound(to: UInt16.self), Int64(cols))
                default: out.copyMemory(from: p, byteCount: cols * 4)
                }
            }
        }
        return weights
    }

    /// The rows packed in four-row groups (as WeightMatrix holds them), or nil for the types
    /// that stay in GGUF's layout.
    static func pack(type: Int32, _ weights: UnsafeMutableRawPointer, rows: Int, cols: Int) -> OpaquePointer? {
        guard ck_packed_type_supported(type) != 0 else { return nil }
        var parts: [UnsafeRawPointer?] = [UnsafeRawPointer(weights)]
        var counts = [Int64(rows)]
        return ck_pack_weights(type, 1, &parts, &counts, Int64(cols))
    }

    static func freeWeights(_ weights: UnsafeMutableRawPointer, type: Int32, rows: Int, cols: Int) {
        ck_weights_free(weights, ck_row_size(type, Int64(cols)) * rows)
    }

    /// `readBandwidth()` measures the ceiling again for each kernel, right before its GEMV.
    static func run(pool: ComputePool, readBandwidth: () -> Double, log: (String) -> Void) -> [Result] {
        types.map { type, name in
            // GEMV: a matrix far larger than the caches, so every call streams it from memory.
            let rows = 8192, cols = 4096
            let weights = makeWeights(type: type, rows: rows, cols: cols)
            defer { freeWeights(weights, type: type, rows: rows, cols: cols) }
            let x = FloatBuffer(count: cols * 512), y = FloatBuffer(count: rows * 512)
            for i in 0..<x.count { x[i] = Float(i % 7) * 0.1 - 0.3 }
            let bytes = Double(ck_row_size(type, Int64(cols)) * rows)
            ck_matmul(pool.raw, type, weights, Int64(rows), Int64(cols), x.pointer, 1, y.pointer)
            let bandwidth = readBandwidth()
            let gemv = (0..<7).map { _ in
                timed { ck_matmul(pool.raw, type, weights, Int64(rows), Int64(cols), x.pointer, 1, y.pointer) }
            }
            let gbps = bytes / median(gemv) / 1e9
            var packedGbps: Double?
            if let packed = pack(type: type, weights, rows: rows, cols: cols) {
                defer { ck_packed_free(packed) }
                ck_matmul_packed(pool.raw, packed, x.pointer, 1, y.pointer)
                let packedGemv = (0..<7).map { _ in timed { ck_matmul_packed(pool.raw, packed, x.pointer, 1, y.pointer) } }
                packedGbps = bytes / median(packedGemv) / 1e9
            }
            // Prefill: a block-sized matrix times a batch of tokens.
            var gflops: [String: Double] = [:]
            for batch in [64, 512] {
                // SmolLM2's feed-forward shapes: gate/up, or down for the K-quants (rows of 256s)
                let (pr, pc) = ck_type_block_elements(type) == 256 ? (576, 1536) : (1536, 576)
                let pw = makeWeights(type: type, rows: pr, cols: pc)
                defer { freeWeights(pw, type: type, rows: pr, cols: pc) }
                // As a model runs it: over the packed rows where the type packs.
                let packed = pack(type: type, pw, rows: pr, cols: pc)
                defer { if let packed { ck_packed_free(packed) } }
                let seconds = median((0..<3).map { _ in
                    timed {
                        if let packed {
                            ck_matmul_packed(pool.raw, packed, x.pointer, Int64(batch), y.pointer)
                        } else {
                            ck_matmul(pool.raw, type, pw, Int64(pr), Int64(pc), x.pointer, Int64(batch), y.pointer)
                        }
                    }
                })
                gflops["n\(batch)"] = 2 * Double(pr * pc * batch) / seconds / 1e9
            }
            let packedText = packedGbps.map { String(format: "packed %6.1f GB/s (%3.0f%%)", $0, 100 * $0 * 1e9 / bandwidth) } ?? "packed      -         "
            log("  " + name.padding(toLength: 6, withPad: " ", startingAt: 0) + String(format: " gemv rows %6.1f GB/s (%3.0f%% of %.1f GB/s read)  ",
                       gbps, 100 * gbps * 1e9 / bandwidth, bandwidth / 1e9) + packedText
                + String(format: "   prefill %6.1f GFLOP/s (n=64) %6.1f GFLOP/s (n=512)", gflops["n64"] ?? 0, gflops["n512"] ?? 0))
            return Result(type: name, gemvGBps: gbps, packedGemvGBps: packedGbps, readGBps: bandwidth / 1e9,
                          gemvFractionOfBandwidth: gbps * 1e9 / bandwidth, prefillGFLOPs: gflops)
        }
    }
}
