import Foundation
import PetalsModel
import PetalsTestSupport
import XCTest

/// The default GGUF model converted into a Hugging Face safetensors directory, dequantized to
/// F32, by scripts/reference/convert_default_model.sh (scripts/test.sh runs it; the outputs live
/// in the untracked models/ folder). Both model-format plugins run it.
final class ConvertedModelTests: XCTestCase {
    static let directory = TestModel.repositoryRoot.appendingPathComponent("models/SmolLM2-135M-Instruct-dequantized").path
    /// The same F32 weights in a GGUF file (llama.cpp's layout and rope order).
    static let f32GGUF = directory + ".f32.gguf"
    /// Greedy tokens compared per prompt (the fixtures hold 32; the F32 model is slow to decode
    /// in a debug build, and every divergence of the fixtures happens within the first 16).
    static let tokens = 16

    struct TransformersCase: Decodable {
        let prompt: String
        let prompt_ids: [Int]
        let generated_ids: [Int]
        let tokens_equal_to_llama_cpp_q4_1: Int
        let prefill_logits_float32_le_base64: String?
    }
    struct LlamaCppCase: Decodable {
        let prompt: String
        let prompt_ids: [Int]
        let generated_ids: [Int]
        let stopped_at_eog: Bool
    }
    struct TokenizeCase: Decodable { let text: String; let ids: [Int] }
    struct Fixture<Case: Decodable>: Decodable { let cases: [Case] }

    private static func load<T: Decodable>(_ name: String, as: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: TestModel.fixtures.appendingPathComponent(name)))
    }

    /// Greedy continuations of every prompt (no stop at end of generation), computed once per
    /// process for each model path: the 135M model is slow enough to share the work.
    private static let lock = NSLock()
    nonisolated(unsafe) private static var pipelines: [String: LocalPipeline] = [:]
    nonisolated(unsafe) private static var greedy: [String: [[Int]]] = [:]

    private static func pipeline(_ path: String) throws -> LocalPipeline {
        if path == TestModel.path { return try TestModel.pipeline() }
        return try lock.withLock {
            if let cached = pipelines[path] { return cached }
            let made = try LocalPipeline.load(host: TestModel.host(), path: path, ranges: nil, pool: TestModel.pool)
            pipelines[path] = made
            return made
        }
    }

    private static func greedyContinuations(_ path: String, prompts: [[Int]]) throws -> [[Int]] {
        if let cached = lock.withLock({ greedy[path] }) { return cached }
        let pipeline = try pipeline(path)
        let generator = TextGenerator(tokenizer: try BPETokenizer(pipeline.shards[0].modelDescription.tokenizer), backend: pipeline)
        let results = try prompts.map {
            try generator.generate(promptTokens: $0, maxNewTokens: tokens, sampling: SamplingParameters(),
                                   stopAtEndOfGeneration: false).tokens
        }
        lock.withLock { greedy[path] = results }
        return results
    }

    override func setUpWithError() throws {
        try TestModel.requireModel()
        guard FileManager.default.fileExists(atPath: Self.directory + "/model.safetensors"),
              FileManager.default.fileExists(atPath: Self.f32GGUF) else {
            throw XCTSkip("the converted model is not present at \(Self.directory); run scripts/reference/convert_default_model.sh")
        }
    }

    private var cases: [TransformersCase] {
        get throws { try Self.load("transformers_dequantized.json", as: Fixture<TransformersCase>.self).cases }
    }

    func testTheConvertedDirectoryRunsAsTransformersRunsIt() throws {
        let pipeline = try Self.pipeline(Self.directory)
        let generator = TextGenerator(tokenizer: try BPETokenizer(pipeline.shards[0].modelDescription.tokenizer), backend: pipeline)
        let cases = try cases
        for c in cases { XCTAssertEqual(generator.tokenize(c.prompt), c.prompt_ids, c.prompt.debugDescription) }
        let ours = try Self.greedyContinuations(Self.directory, prompts: cases.map(\.prompt_ids))
        for (c, tokens) in zip(cases, ours) {
            XCTAssertEqual(tokens, Array(c.generated_ids.prefix(Self.tokens)), "greedy continuation of \(c.prompt.debugDescription)")
        }
        for c in cases {
            guard let base64 = c.prefill_logits_float32_le_base64, let data = Data(base64Encoded: base64) else { continue }
            let theirs = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let diff = maxAbsDiff(try pipeline.openSession(capacity: 64).step(c.prompt_ids), theirs)
            print("dequantized SmolLM2 (safetensors) vs transformers, prefill of \(c.prompt_ids.count) tokens: max abs logit diff \(diff) (max |logit| \(theirs.map(abs).max() ?? 0))")
            XCTAssertLessThan(diff, 1e-3)
        }
    }

    func testBothPluginsGiveTheSameGreedyOutputOnTheSameWeights() throws {
        let safetensors = try Self.pipeline(Self.directory), gguf = try Self.pipeline(Self.f32GGUF)
        XCTAssertEqual(safetensors.shards[0].modelDescription.ropeStyle, "neox")
        XCTAssertEqual(gguf.shards[0].modelDescription.ropeStyle, "normal")
        let a = try BPETokenizer(safetensors.shards[0].modelDescription.tokenizer)
        let b = try BPETokenizer(gguf.shards[0].modelDescription.tokenizer)
        for c in try Self.load("tokenize.json", as: Fixture<TokenizeCase>.self).cases {
            XCTAssertEqual(a.encode(c.text), b.encode(c.text), c.text.debugDescription)
            XCTAssertEqual(a.encode(c.text), c.ids, c.text.debugDescription)
        }
        let prompts = try cases.map(\.prompt_ids)
        let ours = try Self.greedyContinuations(Self.directory, prompts: prompts)
        let theirs = try Self.greedyContinuations(Self.f32GGUF, prompts: prompts)
        XCTAssertEqual(ours, theirs, "safetensors directory and F32 GGUF of the same weights")
        let diff = maxAbsDiff(try safetensors.openSession(capacity: 64).step(prompts[0]), try gguf.openSession(capacity: 64).step(prompts[0]))
        print("dequantized SmolLM2, safetensors vs F32 GGUF plugin: \(zip(ours, theirs).filter { $0 == $1 }.count)/\(prompts.count) greedy continuations identical, prefill max abs logit diff \(diff)")
        XCTAssertLessThan(diff, 1e-3)
    }

    func testTheQ4_1FileAndItsDequantizedDirectoryDivergeOnlyWhereLlamaCppAndTransformersDo() throws {
        let cases = try cases
        let llamaCpp = try Self.load("greedy.json", as: Fixture<LlamaCppCase>.self).cases
        XCTAssertEqual(llamaCpp.map(\.prompt_ids), cases.map(\.prompt_ids))
        let quantized = try Self.greedyContinuations(TestModel.path, prompts: cases.map(\.prompt_ids))
        let dequantized = try Self.greedyContinuations(Self.directory, prompts: cases.map(\.prompt_ids))
        var identical = 0
        for (index, c) in cases.enumerated() {
            // The GGUF plugin's Q4_1 run is llama.cpp's (8-bit activations), the directory's is
            // transformers' (f32): where those two references part, so do the plugins.
            let agree = zip(quantized[index], dequantized[index]).prefix { $0 == $1 }.count
            XCTAssertGreaterThanOrEqual(llamaCpp[index].generated_ids.count, Self.tokens, "llama.cpp ran past \(Self.tokens) tokens")
            XCTAssertEqual(quantized[index], Array(llamaCpp[index].generated_ids.prefix(Self.tokens)))
            XCTAssertEqual(agree, min(c.tokens_equal_to_llama_cpp_q4_1, Self.tokens), "first difference for \(c.prompt.debugDescription)")
            if agree == Self.tokens { identical += 1 }
        }
        print("SmolLM2 Q4_1 GGUF vs its dequantized safetensors directory: \(identical)/\(cases.count) greedy continuations (\(Self.tokens) tokens) identical")
    }
}
