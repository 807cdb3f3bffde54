import CKernels
import XCTest

/// Deterministic pseudo-random floats in [-scale, scale].
struct TestRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next() -> UInt64 {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return state
    }
    mutating func float(_ scale: Float = 1) -> Float { (Float(next() % 2_000_001) / 1_000_000 - 1) * scale }
    mutating func floats(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in float(scale) } }
}

enum WeightType: CaseIterable {
    case q4_0, q4_1, q8_0, f16, f32, bf16
    var ck: Int32 {
        switch self {
        case .q4_0: return Int32(CK_Q4_0)
        case .q4_1: return Int32(CK_Q4_1)
        case .q8_0: return Int32(CK_Q8_0)
        case .f16: return Int32(CK_F16)
        case .f32: return Int32(CK_F32)
        case .bf16: return Int32(CK_BF16)
        }
    }
}

/// Rows of `type` made from f32 values (BF16 by truncation).
func encodeRows(_ values: [Float], type: WeightType, cols: Int) -> [UInt8] {
    let rows = values.count / cols
    let rowBytes = ck_row_size(type.ck, Int64(cols))
    var out = [UInt8](repeating: 0, count: rowBytes * rows)
    out.withUnsafeMutableBytes { raw in
        values.withUnsafeBufferPointer { x in
            for r in 0..<rows {
                let dst = raw.baseAddress! + r * rowBytes, src = x.baseAddress! + r * cols
                switch type {
                case .q4_0: ck_quantize_row_q4_0(src, dst.assumingMemoryBound(to: ck_block_q4_0.self), Int64(cols))
                case .q4_1: ck_quantize_row_q4_1(src, dst.assumingMemoryBound(to: ck_block_q4_1.self), Int64(cols))
                case .q8_0: ck_quantize_row_q8_0(src, dst.assumingMemoryBound(to: ck_block_q8_0.self), Int64(cols))
                case .f16: ck_fp32_to_fp16_row(src, dst.assumingMemoryBound(to: UInt16.self), Int64(cols))
                case .f32: dst.copyMemory(from: src, byteCount: cols * 4)
                case .bf16:
                    let h = dst.assumingMemoryBound(to: UInt16.self)
                    for i in 0..<cols { h[i] = UInt16(src[i].bitPattern >> 16) }
                }
            }
        }
    }
    return out
}

func dequantize(_ bytes: [UInt8], type: Int32, count: Int) -> [Float] {
    var out = [Float](repeating: 0, count: count)
    bytes.withUnsafeBytes { raw in out.withUnsafeMutableBufferPointer { ck_dequantize_row(type, raw.baseAddress, $0.baseAddress, Int64(count)) } }
    return out
}

func prepareActivation(_ x: [Float], weightType: Int32) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: ck_row_size(ck_activation_type(weightType), Int64(x.count)))
    out.withUnsafeMutableBytes { raw in x.withUnsafeBufferPointer { ck_prepare_activation(weightType, $0.baseAddress, raw.baseAddress, Int64(x.count)) } }
    return out
}

/// The largest |y - exact| / sum |w x| over the outputs y (n_tok x rows) of a matmul, with the
/// exact products in double from the weights and the activations as the kernels see them
/// (F16: rounded to f16; quantized types: their Q8 blocks), so only the accumulation counts.
func worstRelativeError(_ y: [Float], weights: [UInt8], type: WeightType, rows: Int, cols: Int, x: [Float], nTok: Int) -> Double {
    let rowBytes = ck_row_size(type.ck, Int64(cols))
    let w = (0..<rows).map { r in dequantize(Array(weights[r * rowBytes..<(r + 1) * rowBytes]), type: type.ck, count: cols) }
    var worst = 0.0
    for t in 0..<nTok {
        let a = dequantize(prepareActivation(Array(x[t * cols..<(t + 1) * cols]), weightType: type.ck),
                           type: ck_activation_type(type.ck), count: cols)
        for r in 0..<rows {
            var exact = 0.0, magnitude = 0.0
            for k in 0..<cols {
                let p = Double(w[r][k]) * Double(a[k])
                exact += p
                magnitude += abs(p)
            }
            if magnitude > 0 { worst = max(worst, abs(Double(y[t * rows + r]) - exact) / magnitude) }
        }
    }
    return worst
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

/// Runs `body` with the dispatcher forced to the scalar references.
func withScalarKernels<T>(_ body: () throws -> T) rethrows -> T {
    ck_set_force_scalar(1)
    defer { ck_set_force_scalar(0) }
    return try body()
}

/// Runs `body` with the dispatcher kept to the AVX2 kernels on a CPU with AVX-512 VNNI.
func withAVX2Kernels<T>(_ body: () throws -> T) rethrows -> T {
    ck_set_avx2_only(1)
    defer { ck_set_avx2_only(0) }
    return try body()
}

/// Rows of random blocks of `type`: random quants and packed scales, small positive f16 scales.
func randomQuantRows(_ type: Int32, scaleOffsets: [Int], cols: Int, rows: Int, rng: inout TestRandom) -> [UInt8] {
    let blockElements = Int(ck_type_block_elements(type))
    let blockBytes = ck_row_size(type, Int64(blockElements))
    let blocks = rows * cols / blockElements
    var bytes = (0..<(blocks * blockBytes)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    for b in 0..<blocks {
        for offset in scaleOffsets {
            let h = ck_fp32_to_fp16(0.0005 + abs(rng.float(0.01)))
            bytes[b * blockBytes + offset] = UInt8(h & 0xff)
            bytes[b * blockBytes + offset + 1] = UInt8(h >> 8)
        }
    }
    return bytes
}
