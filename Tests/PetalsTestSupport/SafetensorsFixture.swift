import Foundation
import PetalsModel
import PluginAPI

/// A tiny Hugging Face model directory of Tests/Fixtures/safetensors with what transformers
/// computed for it (reference.json, made by scripts/reference/make_safetensors_fixtures.py).
public struct SafetensorsFixture {
    public static let names = ["gpt2", "gpt2-f16", "bloom-bf16", "llama", "qwen2", "qwen3-bf16", "gemma3", "mistral"]
    public static let directory = TestModel.repositoryRoot.appendingPathComponent("Tests/Fixtures/safetensors")

    public struct Prompt: Decodable {
        public let text: String
        public let ids: [Int]
        public let vocab: Int
        let logitsBase64: String
        public let greedyIDs: [Int]

        enum CodingKeys: String, CodingKey {
            case text, ids, vocab
            case logitsBase64 = "logits_float32_le_base64", greedyIDs = "greedy_ids"
        }

        /// transformers' logits of every position of the prompt.
        public var logits: [[Float]] {
            let data = Data(base64Encoded: logitsBase64) ?? Data()
            let values = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            return stride(from: 0, to: values.count, by: vocab).map { Array(values[$0..<min($0 + vocab, values.count)]) }
        }
    }

    public struct TokenizerCase: Decodable {
        public let text: String
        public let ids: [Int]
        public let decoded: String
        public let decodedSkippingSpecial: String

        enum CodingKeys: String, CodingKey {
            case text, ids, decoded
            case decodedSkippingSpecial = "decoded_skipping_special"
        }
    }

    public struct Reference: Decodable {
        public let architecture: String
        public let dtype: String
        public let prompts: [Prompt]
        public let tokenizer: [TokenizerCase]
    }

    public let name: String
    public let path: String
    public let reference: Reference

    public init(_ name: String) throws {
        self.name = name
        path = Self.directory.appendingPathComponent(name).path
        reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: path + "/reference.json")))
    }

    /// The model through the plugin host, whole (ranges nil) or as a chain of shards.
    public func pipeline(_ ranges: [Range<Int>]? = nil) throws -> LocalPipeline {
        try LocalPipeline.load(host: TestModel.host(), path: path, ranges: ranges, pool: TestModel.pool)
    }

    public func tokenizer() throws -> BPETokenizer {
        try BPETokenizer(TestModel.host().openModel(path: path, blocks: 0..<0).description.tokenizer)
    }
}

/// The largest element-wise |a - b|; infinity when the lengths differ or a value is NaN.
public func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).reduce(0) { worst, pair in
        let d = abs(pair.0 - pair.1)
        return d.isNaN ? .infinity : max(worst, d)
    }
}
