import CKernels
import Foundation
import PetalsModel
import PetalsTestSupport
import XCTest

/// Tiny BLOOM, GPT-2, Llama, Qwen2, Qwen3, Gemma 3 and Mistral models loaded through the
/// safetensors plugin, against Hugging Face transformers and tokenizers (fixtures made by
/// scripts/reference/make_safetensors_fixtures.py and make_family_safetensors_fixtures.py, see
/// Tests/Fixtures/safetensors/README.md).
final class TransformersParityTests: XCTestCase {
    /// Largest |ours - transformers| allowed for a logit (the bound for F32 is 1e-3).
    /// F32 models, and BF16 ones widened to F32 at load, run in f32 with an F32 KV cache as
    /// transformers does: the differences measured are a few 1e-6. F16 weights are multiplied
    /// with F16-rounded activations over an F16 cache (ggml's arithmetic): about 1e-3.
    static let tolerance: [String: Float] = ["float32": 1e-4, "bfloat16": 1e-4, "float16": 1e-2]

    private func check(_ name: String) throws {
        let fixture = try SafetensorsFixture(name)
        let tolerance = try XCTUnwrap(Self.tolerance[fixture.reference.dtype])
        let pipeline = try fixture.pipeline()
        let generator = TextGenerator(tokenizer: try fixture.tokenizer(), backend: pipeline)
        // transformers' model_type; Mistral runs as the host's llama, Gemma 3's text model as gemma3.
        let hostArchitecture = ["mistral": "llama", "gemma3_text": "gemma3"][fixture.reference.architecture]
            ?? fixture.reference.architecture
        XCTAssertEqual(pipeline.hyperparameters.architecture.rawValue, hostArchitecture)
        var prefillDiff: Float = 0, stepDiff: Float = 0
        for prompt in fixture.reference.prompts {
            XCTAssertEqual(generator.tokenize(prompt.text), prompt.ids, "\(name): token ids of \(prompt.text.debugDescription)")
            let expected = prompt.logits
            // The prompt at once (prefill): the last position's logits, every one of them.
            let session = try pipeline.openSession(capacity: 64)
            prefillDiff = max(prefillDiff, maxAbsDiff(try session.step(prompt.ids), expected.last!))
            // One token at a time (decode): every position's logits.
            let stepping = try pipeline.openSession(capacity: 64)
            for (position, id) in prompt.ids.enumerated() {
                stepDiff = max(stepDiff, maxAbsDiff(try stepping.step([id]), expected[position]))
            }
            let greedy = try generator.generate(promptTokens: prompt.ids, maxNewTokens: prompt.greedyIDs.count,
                                                sampling: SamplingParameters(), stopAtEndOfGeneration: false)
            XCTAssertEqual(greedy.tokens, prompt.greedyIDs, "\(name): greedy continuation of \(prompt.text.debugDescription)")
        }
        print("\(name) (\(fixture.reference.dtype)) vs transformers: max abs logit diff \(prefillDiff) (prefill, last position), \(stepDiff) (token by token, every position)")
        XCTAssertLessThan(prefillDiff, tolerance, name)
        XCTAssertLessThan(stepDiff, tolerance, name)
    }

    func testGPT2MatchesTransformers() throws { try check("gpt2") }
    func testGPT2InF16MatchesTransformers() throws { try check("gpt2-f16") }
    func testBLOOMInBF16MatchesTransformers() throws { try check("bloom-bf16") }
    func testShardedLlamaMatchesTransformers() throws { try check("llama") }
    /// Q/K/V biases.
    func testQwen2MatchesTransformers() throws { try check("qwen2") }
    /// Per-head q/k RMSNorm, head size 32 on an embedding of 64, BF16 weights, tied head.
    func testQwen3InBF16MatchesTransformers() throws { try check("qwen3-bf16") }
    /// 1 + w norms, scaled embeddings, exact GELU-tanh gate, sliding window of 4 on 3 of 5 blocks
    /// with their own rotary base, attention scale from query_pre_attn_scalar.
    func testGemma3MatchesTransformers() throws { try check("gemma3") }
    /// Head size 32 on an embedding of 64 (as Mistral Nemo), rope_theta 1e6.
    func testMistralMatchesTransformers() throws { try check("mistral") }

    func testShardsInSequenceGiveTheWholeModelsLogits() throws {
        for name in SafetensorsFixture.names {
            let fixture = try SafetensorsFixture(name)
            let whole = try fixture.pipeline()
            let split = try fixture.pipeline([0..<1, 1..<2, 2..<whole.hyperparameters.blockCount])
            let ids = fixture.reference.prompts[1].ids
            let a = try whole.openSession(capacity: 32), b = try split.openSession(capacity: 32)
            XCTAssertEqual(try a.step(ids), try b.step(ids), name)
            XCTAssertEqual(try a.step([5]), try b.step([5]), name)
        }
    }

    func testTokenizersMatchHuggingFaceTokenizers() throws {
        for name in SafetensorsFixture.names {
            let fixture = try SafetensorsFixture(name)
            let tokenizer = try fixture.tokenizer()
            for c in fixture.reference.tokenizer {
                XCTAssertEqual(tokenizer.encode(c.text), c.ids, "\(name): \(c.text.debugDescription)")
                XCTAssertEqual(tokenizer.decode(c.ids, renderSpecial: true), c.decoded, "\(name): \(c.text.debugDescription)")
                XCTAssertEqual(tokenizer.decode(c.ids), c.decodedSkippingSpecial, "\(name): \(c.text.debugDescription)")
            }
        }
    }
}
