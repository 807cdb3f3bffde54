import CKernels
import Foundation
import XCTest

final class AttentionTests: XCTestCase {
    /// Causal attention in double over the cached keys and values (f16 caches widened first).
    private func reference(q: [Float], k: [Float], v: [Float], nTok: Int, pos0: Int, heads: Int, kvHeads: Int,
                           headDim: Int, scale: Float, slopes: [Float]?) -> [Float] {
        let kvDim = kvHeads * headDim
        var out = [Float](repeating: 0, count: nTok * heads * headDim)
        for t in 0..<nTok {
            for h in 0..<heads {
                let kvh = h / (heads / kvHeads), len = pos0 + t + 1
                var scores = (0..<len).map { j -> Double in
                    var dot = 0.0
                    for d in 0..<headDim {
                        dot += Double(q[t * heads * headDim + h * headDim + d]) * Double(k[j * kvDim + kvh * headDim + d])
                    }
                    return dot * Double(scale) + Double(slopes?[h] ?? 0) * Double(j - (len - 1))
                }
                let m = scores.max()!
                scores = scores.map { exp($0 - m) }
                let total = scores.reduce(0, +)
                for d in 0..<headDim {
                    var acc = 0.0
                    for j in 0..<len { acc += scores[j] / total * Double(v[j * kvDim + kvh * headDim + d]) }
                    out[t * heads * headDim + h * headDim + d] = Float(acc)
                }
            }
        }
        return out
    }

    private func check(nTok: Int, pos0: Int, heads: Int, kvHeads: Int, alibi: Bool, threads: Int32) {
        var rng = TestRandom(seed: UInt64(nTok * 100 + pos0))
        let headDim = 64, kvDim = kvHeads * headDim, len = pos0 + nTok
        let q = rng.floats(nTok * heads * headDim)
        let k = rng.floats(len * kvDim).map(ck_fp32_to_fp16), v = rng.floats(len * kvDim).map(ck_fp32_to_fp16)
        var slopes: [Float]? = nil
        if alibi {
            var s = [Float](repeating: 0, count: heads)
            ck_alibi_slopes(Int64(heads), &s)
            slopes = s
        }
        let pool = ck_pool_create(threads)
        defer { ck_pool_destroy(pool) }
        var out = [Float](repeating: .nan, count: nTok * heads * headDim)
        let scale = 1 / Float(headDim).squareRoot()
        if let slopes {
            ck_attention(pool, &out, q, Int64(nTok), Int64(pos0), k, v, Int64(kvDim), Int64(heads), Int64(kvHeads), Int64(headDim), scale, slopes)
        } else {
            ck_attention(pool, &out, q, Int64(nTok), Int64(pos0), k, v, Int64(kvDim), Int64(heads), Int64(kvHeads), Int64(headDim), scale, nil)
        }
        let expected = reference(q: q, k: k.map(ck_fp16_to_fp32), v: v.map(ck_fp16_to_fp32), nTok: nTok, pos0: pos0,
                                 heads: heads, kvHeads: kvHeads, headDim: headDim, scale: scale, slopes: slopes)
        // q and the probabilities are rounded to f16 (as llama.cpp does): ~1e-3 relative.
        XCTAssertLessThan(maxAbsDiff(out, expected), 3e-3, "n_tok \(nTok) pos0 \(pos0) heads \(heads)/\(kvHeads) alibi \(alibi)")
    }

    func testGroupedQueryAttentionOverTheCacheIsCausal() {
        check(nTok: 1, pos0: 0, heads: 9, kvHeads: 3, alibi: false, threads: 2)
        check(nTok: 5, pos0: 0, heads: 9, kvHeads: 3, alibi: false, threads: 2)
        check(nTok: 1, pos0: 40, heads: 9, kvHeads: 3, alibi: false, threads: 2)
        check(nTok: 7, pos0: 13, heads: 9, kvHeads: 3, alibi: false, threads: 1)
    }

    func testALiBiBiasFavoursRecentPositions() {
        check(nTok: 4, pos0: 9, heads: 8, kvHeads: 8, alibi: true, threads: 2)
    }

    /// ck_attention_f32 against the double reference over f32 keys and values, SIMD and scalar.
    private func checkF32(nTok: Int, pos0: Int, heads: Int, kvHeads: Int, headDim: Int, alibi: Bool) {
        var rng = TestRandom(seed: UInt64(7 * nTok + pos0))
        let kvDim = kvHeads * headDim, len = pos0 + nTok
        let q = rng.floats(nTok * heads * headDim), k = rng.floats(len * kvDim), v = rng.floats(len * kvDim)
        var slopes = [Float](repeating: 0, count: heads)
        ck_alibi_slopes(Int64(heads), &slopes)
        let scale = 1 / Float(headDim).squareRoot()
        let expected = reference(q: q, k: k, v: v, nTok: nTok, pos0: pos0, heads: heads, kvHeads: kvHeads,
                                 headDim: headDim, scale: scale, slopes: alibi ? slopes : nil)
        let pool = ck_pool_create(2)
        defer { ck_pool_destroy(pool) }
        for scalar in [false, true] {
            ck_set_force_scalar(scalar ? 1 : 0)
            defer { ck_set_force_scalar(0) }
            var out = [Float](repeating: .nan, count: expected.count)
            if alibi {
                ck_attention_f32(pool, &out, q, Int64(nTok), Int64(pos0), k, v, Int64(kvDim), Int64(heads), Int64(kvHeads),
                                 Int64(headDim), scale, slopes)
            } else {
                ck_attention_f32(pool, &out, q, Int64(nTok), Int64(pos0), k, v, Int64(kvDim), Int64(heads), Int64(kvHeads),
                                 Int64(headDim), scale, nil)
            }
            XCTAssertFalse(out.contains { $0.isNaN }, "every output written")
            // No f16 rounding anywhere: only f32 accumulation error remains.
            XCTAssertLessThan(maxAbsDiff(out, expected), 2e-6, "scalar \(scalar) n_tok \(nTok) pos0 \(pos0) heads \(heads)/\(kvHeads) hd \(headDim)")
        }
    }

    func testF32AttentionHasNoHalfPrecisionRounding() {
        checkF32(nTok: 1, pos0: 0, heads: 4, kvHeads: 2, headDim: 16, alibi: false)
        checkF32(nTok: 6, pos0: 0, heads: 4, kvHeads: 2, headDim: 16, alibi: false)
        checkF32(nTok: 1, pos0: 33, heads: 6, kvHeads: 6, headDim: 16, alibi: true)
        checkF32(nTok: 5, pos0: 9, heads: 9, kvHeads: 3, headDim: 64, alibi: false)
        checkF32(nTok: 3, pos0: 4, heads: 2, kvHeads: 1, headDim: 12, alibi: true) // head size not a multiple of 8
    }

    func testTheFirstTokenAttendsOnlyToItself() {
        // With one position the output is exactly its value row (probability 1).
        let v = (0..<64).map { ck_fp32_to_fp16(Float($0) / 8) }
        let k = [UInt16](repeating: ck_fp32_to_fp16(0.5), count: 64)
        var out = [Float](repeating: 0, count: 64)
        let pool = ck_pool_create(1)
        defer { ck_pool_destroy(pool) }
        ck_attention(pool, &out, [Float](repeating: 1, count: 64), 1, 0, k, v, 64, 1, 1, 64, 0.125, nil)
        XCTAssertEqual(out, (0..<64).map { Float($0) / 8 })
    }
}
