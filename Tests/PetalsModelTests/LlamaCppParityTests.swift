import PetalsTestSupport
import CKernels
import Foundation
import PetalsModel
import XCTest

/// The forward pass against llama.cpp on the same GGUF file (fixtures made by
/// scripts/reference/make_llama_fixtures.py).
final class LlamaCppParityTests: XCTestCase {
    struct GreedyCase: Decodable {
        let kind: String
        let prompt: String
        let prompt_ids: [Int]
        let generated_ids: [Int]
        let stopped_at_eog: Bool
    }
    struct LogitsCase: Decodable {
        struct Step: Decodable { let after_ids: [Int]; let float32_le_base64: String }
        let prompt_ids: [Int]
        let steps: [Step]
    }
    struct Fixture<Case: Decodable>: Decodable { let cases: [Case] }

    private func load<T: Decodable>(_ name: String, as: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: TestModel.fixtures.appendingPathComponent(name)))
    }

    static func floats(_ base64: String) -> [Float] {
        let data = Data(base64Encoded: base64)!
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    func testGreedyContinuationsEqualLlamaCppTokenForToken() throws {
        let pipeline = try TestModel.pipeline()
        let generator = TextGenerator(tokenizer: try TestModel.tokenizer(), backend: pipeline)
        let cases = try load("greedy.json", as: Fixture<GreedyCase>.self).cases
        XCTAssertGreaterThanOrEqual(cases.count, 5)
        for c in cases {
            XCTAssertEqual(generator.tokenize(c.prompt), c.prompt_ids, "prompt tokens of \(c.prompt.debugDescription)")
            let result = try generator.generate(promptTokens: c.prompt_ids, maxNewTokens: 32, sampling: SamplingParameters())
            XCTAssertEqual(result.tokens, c.generated_ids, "greedy continuation of \(c.prompt.debugDescription)")
            XCTAssertEqual(result.stopReason == .endOfGeneration, c.stopped_at_eog)
        }
    }

    func testLogitsStayCloseToLlamaCpp() throws {
        let pipeline = try TestModel.pipeline()
        for c in try load("logits.json", as: Fixture<LogitsCase>.self).cases {
            let session = try pipeline.openSession(capacity: 128)
            var fed: [Int] = []
            for (index, step) in c.steps.enumerated() {
                let input = index == 0 ? c.prompt_ids : [step.after_ids.last!]
                fed += input
                let ours = try session.step(input)
                let theirs = Self.floats(step.float32_le_base64)
                let diff = zip(ours, theirs).map { abs($0 - $1) }.max()!
                let scale = theirs.map(abs).max()!
                print("logits vs llama.cpp, prompt of \(c.prompt_ids.count) tokens, step \(index): max abs diff \(diff) (max |logit| \(scale))")
                XCTAssertEqual(Sampler.argmax(ours), Sampler.argmax(theirs), "argmax at step \(index)")
                if ck_cpu_has_avx2_fma_f16c() != 0 {
                    // The AVX2 kernels reproduce llama.cpp's arithmetic to the last bit.
                    XCTAssertEqual(diff, 0, "step \(index)")
                } else {
                    XCTAssertLessThan(diff, 0.05 * scale, "step \(index)")
                }
            }
        }
    }

    func testTwoShardsInSequenceGiveTheWholeModelsLogits() throws {
        let whole = try TestModel.pipeline()
        let split = try TestModel.pipeline([0..<15, 15..<30])
        XCTAssertEqual(split.shards.map(\.blocks), [0..<15, 15..<30])
        let prompt = [504, 3575, 282, 4649, 314]
        let a = try whole.openSession(capacity: 16), b = try split.openSession(capacity: 16)
        XCTAssertEqual(try a.step(prompt), try b.step(prompt))
        XCTAssertEqual(try a.step([7042]), try b.step([7042]))
    }
}
