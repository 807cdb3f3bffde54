import CKernels
import Foundation
import PetalsModel
import PetalsTestSupport
import XCTest

/// Tiny random Qwen2 (Q/K/V biases), Qwen3 (per-head q/k RMSNorm, head size 32 on an embedding
/// of 64 with 4 heads) and Gemma 3 (SentencePiece vocabulary, scaled embeddings, post-norms,
/// GELU gate, sliding window of 4 on 6 of its 7 blocks) GGUFs made by the vendored llama.cpp's
/// convert_hf_to_gguf.py, against llama.cpp's logits and greedy tokens on the same files
/// (Tests/Fixtures/gguf-tiny; scripts/reference/make_qwen_fixtures.sh and
/// make_gemma3_tiny_fixture.py).
final class TinyGGUFParityTests: XCTestCase {
    struct Case: Decodable {
        let prompt: String
        let prompt_ids: [Int]
        let generated_ids: [Int]
        let stopped_at_eog: Bool
        let last_logits_float32_le_base64: String
    }
    struct Fixture: Decodable {
        let file: String
        let architecture: String
        let type: String
        let cases: [Case]
    }
    struct Reference: Decodable { let fixtures: [Fixture] }

    static let directory = TestModel.repositoryRoot.appendingPathComponent("Tests/Fixtures/gguf-tiny")

    func testQwen2AndQwen3EqualLlamaCpp() throws {
        let fixtures = try Self.fixtures("reference.json")
        XCTAssertEqual(Set(fixtures.map(\.architecture)), ["qwen2", "qwen3"])
        try compare(fixtures, preTokenizer: "qwen2")
    }

    /// llama-quantize's Q4_K_M of the same models (make_qwen_kquant_fixtures.py): at an embedding
    /// of 64 every matrix takes its fallback type (Q5_0, Q8_0), as for any model that narrow.
    func testQwen2AndQwen3Q4KMFilesEqualLlamaCpp() throws {
        let fixtures = try Self.fixtures("qwen-kquant-reference.json")
        XCTAssertEqual(Set(fixtures.map(\.architecture)), ["qwen2", "qwen3"])
        XCTAssertEqual(Set(fixtures.map(\.type)), ["q4_k_m"])
        try compare(fixtures, preTokenizer: "qwen2")
    }

    func testGemma3EqualsLlamaCpp() throws {
        let fixtures = try Self.fixtures("gemma3-reference.json")
        XCTAssertEqual(fixtures.map(\.architecture), ["gemma3"])
        try compare(fixtures, preTokenizer: "default")
    }

    /// A Mistral-style llama GGUF (convert_hf_to_gguf.py's output for MistralForCausalLM: Q/K
    /// permuted, head size 32 from attention.key_length on an embedding of 64, GQA 4/2,
    /// rope.freq_base 1e6, BOS added) with the tekken pre-tokenizer (make_mistral_gguf_fixture.py).
    func testMistralStyleLlamaEqualsLlamaCpp() throws {
        let fixtures = try Self.fixtures("mistral-reference.json")
        XCTAssertEqual(Set(fixtures.map(\.type)), ["f32", "q8_0"])
        try compare(fixtures, preTokenizer: "tekken")
    }

    struct TokenizeCase: Decodable {
        let text: String
        let ids: [Int]
        let ids_parse_special_off: [Int]
    }
    struct TokenizeReference: Decodable { let tokenize: [TokenizeCase] }

    /// tekken's pre-tokenizer (case-split letter runs, one digit per word, `/` after punctuation,
    /// no contractions) against llama_tokenize on the same file, special tokens parsed and not.
    func testTekkenTokenizerEqualsLlamaTokenize() throws {
        let url = Self.directory.appendingPathComponent("mistral-reference.json")
        let cases = try JSONDecoder().decode(TokenizeReference.self, from: Data(contentsOf: url)).tokenize
        XCTAssertGreaterThan(cases.count, 30)
        let path = Self.directory.appendingPathComponent("mistral-tiny-f32.gguf").path
        let tokenizer = try Tokenizer(try TestModel.host().openModel(path: path, blocks: 0..<0).description.tokenizer)
        XCTAssertEqual(tokenizer.preTokenizerName, "tekken")
        for c in cases {
            XCTAssertEqual(tokenizer.encode(c.text, parseSpecial: true), c.ids, c.text.debugDescription)
            XCTAssertEqual(tokenizer.encode(c.text, parseSpecial: false), c.ids_parse_special_off, c.text.debugDescription)
        }
    }

    private static func fixtures(_ name: String) throws -> [Fixture] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return try JSONDecoder().decode(Reference.self, from: data).fixtures
    }

    private func compare(_ fixtures: [Fixture], preTokenizer: String) throws {
        for fixture in fixtures {
            let path = Self.directory.appendingPathComponent(fixture.file).path
            let pipeline = try LocalPipeline.load(host: try TestModel.host(), path: path, ranges: nil, pool: TestModel.pool)
            let description = pipeline.shards[0].modelDescription
            XCTAssertEqual(description.architecture, fixture.architecture)
            let tokenizer = try Tokenizer(description.tokenizer)
            XCTAssertEqual(tokenizer.preTokenizerName, preTokenizer)
            let generator = TextGenerator(tokenizer: tokenizer, backend: pipeline)
            for c in fixture.cases {
                let label = "\(fixture.file): \(c.prompt.debugDescription)"
                XCTAssertEqual(generator.tokenize(c.prompt), c.prompt_ids, "prompt tokens, \(label)")
                let session = try pipeline.openSession(capacity: 64)
                let ours = try session.step(c.prompt_ids)
                let theirs = Data(base64Encoded: c.last_logits_float32_le_base64)!.withUnsafeBytes {
                    Array($0.bindMemory(to: Float.self))
                }
                XCTAssertEqual(ours.count, theirs.count, label)
                let diff = zip(ours, theirs).map { abs($0 - $1) }.max() ?? .infinity
                let scale = theirs.map(abs).max() ?? 0
                print("\(fixture.file) vs llama.cpp, \(c.prompt_ids.count)-token prompt: first-step logits max abs diff \(diff) (max |logit| \(scale))")
                // F32 files run with an F32 KV cache here and an F16 one in llama.cpp (measured: up
                // to 0.21% of the largest logit). Q8_0 files: 0 on 8 of 9 prompts; one Qwen3 prompt
                // of 16 tokens differs by 1.0% (not yet explained); greedy tokens agree on all.
                XCTAssertLessThan(diff, (fixture.type == "f32" ? 3e-3 : 1.5e-2) * max(scale, 1), label)
                let result = try generator.generate(promptTokens: c.prompt_ids, maxNewTokens: c.generated_ids.count,
                                                    sampling: SamplingParameters())
                XCTAssertEqual(result.tokens, c.generated_ids, "greedy continuation, \(label)")
            }
        }
    }

    func testSplitModelsGiveTheWholeModelsLogits() throws {
        for (file, ranges) in [("qwen3-tiny-q8_0.gguf", [0..<1, 1..<2]), ("gemma3-tiny-f32.gguf", [0..<3, 3..<7]),
                               ("mistral-tiny-q8_0.gguf", [0..<1, 1..<3])] {
            let path = Self.directory.appendingPathComponent(file).path
            let whole = try LocalPipeline.load(host: try TestModel.host(), path: path, ranges: nil, pool: TestModel.pool)
            let split = try LocalPipeline.load(host: try TestModel.host(), path: path, ranges: ranges, pool: TestModel.pool)
            let a = try whole.openSession(capacity: 16), b = try split.openSession(capacity: 16)
            XCTAssertEqual(try a.step([5, 6, 7, 8, 9, 10]), try b.step([5, 6, 7, 8, 9, 10]), file)
            XCTAssertEqual(try a.step([11]), try b.step([11]), file)
        }
    }
}
