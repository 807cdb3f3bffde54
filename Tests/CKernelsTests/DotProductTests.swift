import CKernels
import XCTest

final class DotProductTests: XCTestCase {
    func testSIMDDotsEqualTheScalarReferences() throws {
        try XCTSkipUnless(ck_cpu_has_avx2_fma_f16c() != 0, "CPU without AVX2/FMA/F16C: only the references run")
        var rng = TestRandom(seed: 1)
        for type in WeightType.allCases {
            for n in [32, 64, 96, 576, 1536, 4096] {
                let w = encodeRows(rng.floats(n), type: type, cols: n)
                let a = prepareActivation(rng.floats(n, scale: 4), weightType: type.ck)
                let (fast, reference) = w.withUnsafeBytes { wr in
                    a.withUnsafeBytes { ar in
                        (ck_vec_dot(type.ck, Int64(n), wr.baseAddress, ar.baseAddress),
                         ck_vec_dot_ref(type.ck, Int64(n), wr.baseAddress, ar.baseAddress))
                    }
                }
                // Same integer block sums; only the float accumulation order differs.
                XCTAssertEqual(fast, reference, accuracy: 1e-4 * max(1, abs(reference)) * Float(n).squareRoot(), "\(type) n=\(n)")
            }
        }
    }

    func testDotsApproximateTheExactProductOfTheDequantizedRows() {
        var rng = TestRandom(seed: 2)
        let n = 1024
        let x = rng.floats(n), y = rng.floats(n)
        let exact = zip(x, y).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        for (type, tolerance) in [(WeightType.q4_0, 2.0), (.q4_1, 1.5), (.q8_0, 0.2), (.f16, 0.01), (.f32, 1e-3), (.bf16, 0.2)] {
            let w = encodeRows(x, type: type, cols: n)
            let a = prepareActivation(y, weightType: type.ck)
            let dot = w.withUnsafeBytes { wr in a.withUnsafeBytes { ck_vec_dot(type.ck, Int64(n), wr.baseAddress, $0.baseAddress) } }
            XCTAssertEqual(Double(dot), exact, accuracy: tolerance, "\(type)")
        }
    }
}
