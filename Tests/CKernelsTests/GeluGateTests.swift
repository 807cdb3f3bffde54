import CKernels
import Foundation
import XCTest

/// ggml's table GELU gate (ck_geglu_f16_table): the AVX2 path (F16C rounding, a gather from the
/// table) equals the scalar reference bit for bit, and the pool variant equals one call.
final class GeluGateTests: XCTestCase {
    private func inputs() -> (gate: [Float], up: [Float]) {
        var rng = TestRandom(seed: 61)
        // Every f16 value once (the whole table, NaNs and infinities aside), the ±10 boundaries,
        // and random values on both sides; a length that leaves a scalar tail.
        var gate: [Float] = (0..<65536).compactMap { i in
            let v = ck_fp16_to_fp32(UInt16(i))
            return v.isFinite ? v : nil
        }
        gate += [-10, 10, -10.000001, 9.999999, -9.999999, 10.000001, 0, -0.0]
        gate += rng.floats(1001, scale: 14)
        let up = rng.floats(gate.count, scale: 3)
        return (gate, up)
    }

    func testSIMDEqualsTheScalarReferenceBitForBit() {
        let (gate, up) = inputs()
        var simd = gate, scalar = gate
        ck_geglu_f16_table(&simd, up, Int64(gate.count))
        ck_set_force_scalar(1)
        ck_geglu_f16_table(&scalar, up, Int64(gate.count))
        ck_set_force_scalar(0)
        XCTAssertEqual(simd.map(\.bitPattern), scalar.map(\.bitPattern))
        // ggml's rule at the edges: x <= -10 gives 0, x >= 10 gives x * up.
        let i = gate.firstIndex(of: -10)!, j = gate.firstIndex(of: 10)!
        XCTAssertEqual(simd[i].bitPattern, Float(0).bitPattern)
        XCTAssertEqual(simd[j], 10 * up[j])
        // The table is the tanh form of x rounded to f16, within f16 rounding of the result.
        for k in stride(from: 0, to: gate.count, by: 97) where abs(gate[k]) < 10 {
            let x = Double(Float16(gate[k]))
            let exact = 0.5 * x * (1 + tanh(0.7978845608028654 * x * (1 + 0.044715 * x * x))) * Double(up[k])
            XCTAssertEqual(Double(simd[k]), exact, accuracy: 2e-3 * abs(exact) + 1e-6, "x = \(x)")
        }
    }

    func testThePoolVariantEqualsOneCall() {
        let (gate, up) = inputs()
        let pool = ck_pool_create(2)
        defer { ck_pool_destroy(pool) }
        var pooled = gate, single = gate
        ck_geglu_f16_table_pool(pool, &pooled, up, Int64(gate.count))
        ck_geglu_f16_table(&single, up, Int64(gate.count))
        XCTAssertEqual(pooled.map(\.bitPattern), single.map(\.bitPattern))
    }
}
