import CKernels
import XCTest

final class QuantizationTests: XCTestCase {
    func testBlockLayoutsMatchGGML() {
        XCTAssertEqual(MemoryLayout<ck_block_q4_0>.size, 18)
        XCTAssertEqual(MemoryLayout<ck_block_q4_1>.size, 20)
        XCTAssertEqual(MemoryLayout<ck_block_q8_0>.size, 34)
        XCTAssertEqual(MemoryLayout<ck_block_q8_1>.size, 36)
        XCTAssertEqual(ck_row_size(Int32(CK_Q4_1), 576), 360)
        XCTAssertEqual(ck_row_size(Int32(CK_Q8_0), 576), 612)
        XCTAssertEqual(ck_row_size(99, 576), 0)
    }

    func testHalfPrecisionRoundTripsEveryFiniteHalf() {
        for bits in UInt16.min...UInt16.max where (bits & 0x7c00) != 0x7c00 {
            XCTAssertEqual(ck_fp32_to_fp16(ck_fp16_to_fp32(bits)), bits, "half 0x\(String(bits, radix: 16))")
        }
    }

    func testHalfPrecisionMatchesSwiftFloat16Rounding() {
        var rng = TestRandom(seed: 5)
        let specials: [Float] = [0, -0, 1, -1, 65504, 65520, 1e-8, 6e-8, 3e-5, .infinity, -.infinity, 0.1, 1 / 3]
        for x in specials + (0..<20000).map({ _ in rng.float(70000) }) + (0..<5000).map({ _ in rng.float(1e-4) }) {
            XCTAssertEqual(ck_fp32_to_fp16(x), Float16(x).bitPattern, "\(x)")
        }
        XCTAssertTrue(ck_fp16_to_fp32(ck_fp32_to_fp16(.nan)).isNaN)
        XCTAssertEqual(ck_fp16_to_fp32(0x0001), Float(Float16(bitPattern: 1)))
    }

    func testQ8ActivationsMatchTheScalarQuantizer() {
        var rng = TestRandom(seed: 11)
        for n in [32, 64, 576, 1536] {
            let x = rng.floats(n, scale: 3)
            for type in [Int32(CK_Q8_0), Int32(CK_Q4_1)] {
                let simd = prepareActivation(x, weightType: type)
                let scalar = withScalarKernels { prepareActivation(x, weightType: type) }
                XCTAssertEqual(simd, scalar, "activation blocks for weight type \(type), n \(n)")
            }
        }
    }

    func testQuantizationErrorStaysWithinHalfAStep() {
        var rng = TestRandom(seed: 3)
        let x = rng.floats(4096, scale: 2)
        for type in [WeightType.q4_0, .q4_1, .q8_0] {
            let back = dequantize(encodeRows(x, type: type, cols: 4096), type: type.ck, count: 4096)
            for b in 0..<(4096 / 32) {
                let block = x[b * 32..<(b + 1) * 32]
                let amax = block.map(abs).max()!, range = block.max()! - block.min()!
                let tolerance: Float
                switch type {
                // Q4_0 maps the largest magnitude to -8; the other side tops out at 7 steps of
                // amax/8, so values there may be a whole step off.
                case .q4_0: tolerance = amax / 8 * 1.01
                case .q4_1: tolerance = range / 15 * 0.51 + 1e-3 * range
                default: tolerance = amax / 127 * 0.51 + 1e-3 * amax
                }
                XCTAssertLessThanOrEqual(maxAbsDiff(Array(block), Array(back[b * 32..<(b + 1) * 32])), tolerance, "\(type) block \(b)")
            }
        }
    }

    func testKnownQ4_1BlockDequantizes() {
        // 0, 1, ..., 31 → min 0, d = 31/15: nibble k means k * d.
        let x = (0..<32).map(Float.init)
        let bytes = encodeRows(x, type: .q4_1, cols: 32)
        let back = dequantize(bytes, type: Int32(CK_Q4_1), count: 32)
        XCTAssertEqual(back[0], 0)
        XCTAssertEqual(back[31], 31, accuracy: 0.02)
        XCTAssertEqual(bytes[4] & 0x0f, 0, "x[0] is the block minimum")
        XCTAssertEqual(bytes[4 + 15] >> 4, 15, "x[31] is the block maximum")
    }
}
