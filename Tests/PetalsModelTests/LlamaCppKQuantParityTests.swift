import CKernels
import Foundation
import PetalsModel
import PetalsTestSupport
import XCTest

/// K-quant files of the default model against llama.cpp on the same files: llama-quantize's
/// Q4_K_M, Q5_K_M, Q6_K, Q2_K, Q3_K_M and IQ4_XS mixes (with Q5_0, Q5_1, Q8_0, Q4_0 and IQ4_NL
/// where SmolLM2's rows of 576 are not a multiple of 256). The files and llama.cpp's answers come
/// from scripts/reference/make_kquant_fixtures.sh (models/kquant/, Tests/Fixtures/smollm2-kquant/);
/// without the files the tests skip, saying so.
final class LlamaCppKQuantParityTests: XCTestCase {
    typealias GreedyCase = LlamaCppParityTests.GreedyCase
    typealias LogitsCase = LlamaCppParityTests.LogitsCase
    typealias Fixture = LlamaCppParityTests.Fixture

    static let types = ["Q4_K_M", "Q5_K_M", "Q6_K", "Q2_K", "Q3_K_M", "IQ4_XS"]
    static func modelPath(_ type: String) -> String {
        TestModel.repositoryRoot.appendingPathComponent("models/kquant/SmolLM2-135M-Instruct.\(type).gguf").path
    }

    private func fixture<T: Decodable>(_ type: String, _ name: String, as: T.Type) throws -> T {
        let url = TestModel.repositoryRoot.appendingPathComponent("Tests/Fixtures/smollm2-kquant/\(type)/\(name)")
        return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }

    private func pipeline(_ type: String, _ ranges: [Range<Int>]? = nil) throws -> LocalPipeline {
        let path = Self.modelPath(type)
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("\(path) is absent: scripts/reference/make_kquant_fixtures.sh makes it (needs the llama.cpp reference build)")
        }
        return try LocalPipeline.load(host: TestModel.host(), path: path, ranges: ranges, pool: TestModel.pool)
    }

    private func checkGreedy(_ type: String, ranges: [Range<Int>]?) throws {
        let generator = TextGenerator(tokenizer: try TestModel.tokenizer(), backend: try pipeline(type, ranges))
        let cases = try fixture(type, "greedy.json", as: Fixture<GreedyCase>.self).cases
        XCTAssertGreaterThanOrEqual(cases.count, 5)
        for c in cases {
            let result = try generator.generate(promptTokens: c.prompt_ids, maxNewTokens: 32, sampling: SamplingParameters())
            XCTAssertEqual(result.tokens, c.generated_ids, "\(type) \(ranges.map { "\($0)" } ?? "whole"): \(c.prompt.debugDescription)")
            XCTAssertEqual(result.stopReason == .endOfGeneration, c.stopped_at_eog, "\(type): \(c.prompt.debugDescription)")
        }
    }

    func testGreedyContinuationsEqualLlamaCppTokenForToken() throws {
        for type in Self.types { try checkGreedy(type, ranges: nil) }
    }

    func testTwoShardsGiveLlamaCppsContinuations() throws {
        for type in Self.types { try checkGreedy(type, ranges: [0..<15, 15..<30]) }
    }

    func testFirstStepLogitsEqualLlamaCpps() throws {
        for type in Self.types {
            let pipeline = try pipeline(type)
            for c in try fixture(type, "logits.json", as: Fixture<LogitsCase>.self).cases {
                let session = try pipeline.openSession(capacity: 128)
                for (index, step) in c.steps.enumerated() {
                    let ours = try session.step(index == 0 ? c.prompt_ids : [step.after_ids.last ?? 0])
                    let theirs = LlamaCppParityTests.floats(step.float32_le_base64)
                    let diff = zip(ours, theirs).map { abs($0 - $1) }.max() ?? .infinity
                    print("\(type) logits vs llama.cpp, prompt of \(c.prompt_ids.count) tokens, step \(index): max abs diff \(diff)")
                    XCTAssertEqual(Sampler.argmax(ours), Sampler.argmax(theirs), "\(type) argmax at step \(index)")
                    if ck_cpu_has_avx2_fma_f16c() != 0 {
                        XCTAssertEqual(diff, 0, "\(type) step \(index): the AVX2 kernels follow llama.cpp's order")
                    } else {
                        XCTAssertLessThan(diff, 0.01 * (theirs.map(abs).max() ?? 1), "\(type) step \(index)")
                    }
                }
            }
        }
    }
}
