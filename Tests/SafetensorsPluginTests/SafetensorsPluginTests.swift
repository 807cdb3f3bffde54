import Foundation
import PluginAPI
@testable import SafetensorsFormat
import XCTest

final class SafetensorsPluginTests: XCTestCase {
    private var writer: CheckpointWriter!
    private let provider = SafetensorsFormatProvider()

    override func setUpWithError() throws { writer = try CheckpointWriter() }
    override func tearDownWithError() throws { writer.remove() }

    private var directory: String { writer.directory.path }

    private func gpt2(prefix: String = "", dtype: String = "F32") throws {
        try writer.json("config.json", TinyModels.gpt2Config())
        try writer.gpt2Tokenizer()
        try writer.safetensors("model.safetensors", TinyModels.gpt2Tensors(prefix: prefix, dtype: dtype))
    }

    private func names(_ model: ExportedModel) -> Set<String> { Set(model.tensors.map(\.name)) }

    private func tensor(_ model: ExportedModel, _ name: String) throws -> ExportedTensor {
        try XCTUnwrap(model.tensors.first { $0.name == name }, "no \(name)")
    }

    private func floats(_ t: ExportedTensor) -> [Float] {
        Array(UnsafeBufferPointer(start: t.data.assumingMemoryBound(to: Float.self), count: t.byteCount / 4))
    }

    /// The error `body` throws, as text.
    private func failure(_ body: () throws -> Any) -> String {
        do {
            _ = try body()
            XCTFail("expected an error")
            return ""
        } catch {
            return "\(error)"
        }
    }

    // MARK: - Probe

    func testProbeRecognisesModelDirectoriesAndTheirFilesOnly() throws {
        XCTAssertEqual(provider.probe(path: directory), 0, "an empty directory")
        try gpt2()
        XCTAssertEqual(provider.probe(path: directory), 100)
        XCTAssertEqual(provider.probe(path: writer.path("model.safetensors")), 100)
        XCTAssertEqual(provider.probe(path: writer.path("config.json")), 0)
        XCTAssertEqual(provider.probe(path: writer.path("missing")), 0)
    }

    // MARK: - Headers

    func testHeaderListsDtypesShapesAndAbsoluteByteRanges() throws {
        let path = try writer.safetensors("a.safetensors", [
            .init(name: "x", shape: [2, 3], values: CheckpointWriter.ramp(6)),
            .init(name: "y", dtype: "BF16", shape: [4], values: [1, 2, 3, 4]),
        ], metadata: ["format": "pt", "note": "hi"])
        let header = try SafetensorsHeader(path: path)
        XCTAssertEqual(header.metadata, ["format": "pt", "note": "hi"])
        let x = try XCTUnwrap(header.entries["x"]), y = try XCTUnwrap(header.entries["y"])
        XCTAssertEqual(x.shape, [2, 3])
        XCTAssertEqual(x.tensorType, .f32)
        XCTAssertEqual(y.tensorType, .bf16)
        XCTAssertEqual(x.range.count, 24)
        XCTAssertEqual(y.range.lowerBound, x.range.upperBound)
        XCTAssertEqual(y.range.upperBound, header.fileSize)
    }

    func testBrokenHeadersAreRefusedWithTheirReason() throws {
        let entry = { (offsets: [Int], shape: [Int]) in
            try JSONSerialization.data(withJSONObject: ["t": ["dtype": "F32", "shape": shape, "data_offsets": offsets]])
        }
        let cases: [(String, () throws -> String, String)] = [
            ("length past the end", { try self.writer.raw("a.safetensors", header: Data("{}".utf8), data: [], declaredLength: 1000) },
             "runs past the end of the file"),
            ("too short", { let p = self.writer.path("b.safetensors"); try Data([1, 2, 3]).write(to: URL(fileURLWithPath: p)); return p },
             "too short for the 8-byte header length"),
            ("not JSON", { try self.writer.raw("c.safetensors", header: Data("{\"t\": [".utf8), data: []) },
             "not valid JSON"),
            ("not an object", { try self.writer.raw("d.safetensors", header: Data("[1, 2]".utf8), data: []) },
             "not a JSON object"),
            ("offsets outside the data", { try self.writer.raw("e.safetensors", header: try entry([0, 16], [4]), data: [UInt8](repeating: 0, count: 8)) },
             "tensor t: data_offsets [0, 16] lie outside the 8 bytes of tensor data"),
            ("reversed offsets", { try self.writer.raw("f.safetensors", header: try entry([8, 0], [2]), data: [UInt8](repeating: 0, count: 8)) },
             "lie outside"),
            ("shape disagrees with the bytes", { try self.writer.raw("g.safetensors", header: try entry([0, 8], [3]), data: [UInt8](repeating: 0, count: 8)) },
             "shape [3] of F32 needs 3 x 4 bytes, but data_offsets give 8"),
            ("overlapping tensors", {
                let header = try JSONSerialization.data(withJSONObject: [
                    "a": ["dtype": "F32", "shape": [2], "data_offsets": [0, 8]],
                    "b": ["dtype": "F32", "shape": [2], "data_offsets": [4, 12]]])
                return try self.writer.raw("h.safetensors", header: header, data: [UInt8](repeating: 0, count: 12))
            }, "overlap"),
        ]
        for (label, make, reason) in cases {
            let path = try make()
            let message = failure { try SafetensorsHeader(path: path) }
            XCTAssertTrue(message.contains(path), "\(label): \(message)")
            XCTAssertTrue(message.contains(reason), "\(label): \(message)")
        }
    }

    // MARK: - Shards of blocks

    func testShardsMapOnlyTheirBlocksPlusEmbeddingsOrHead() throws {
        try gpt2()
        let first = names(try provider.open(path: directory, blockStart: 0, blockEnd: 1))
        XCTAssertTrue(first.isSuperset(of: ["token_embd.weight", "position_embd.weight", "blk.0.attn_qkv.weight"]))
        XCTAssertEqual(first.filter { $0.hasPrefix("blk.") }.count, 12)
        XCTAssertFalse(first.contains { $0.hasPrefix("blk.1.") || $0.hasPrefix("output_norm") })

        // The last shard of a tied model maps the embeddings for its head, but not the positions.
        let last = names(try provider.open(path: directory, blockStart: 1, blockEnd: nil))
        XCTAssertTrue(last.isSuperset(of: ["output_norm.weight", "output_norm.bias", "token_embd.weight"]))
        XCTAssertFalse(last.contains("position_embd.weight"))
        XCTAssertFalse(last.contains { $0.hasPrefix("blk.0.") })

        let clientSide = names(try provider.open(path: directory, blockStart: 0, blockEnd: 0))
        XCTAssertEqual(clientSide, ["token_embd.weight", "position_embd.weight"])

        let message = failure { try self.provider.open(path: self.directory, blockStart: 1, blockEnd: 3) }
        XCTAssertTrue(message.contains("block range [1, 3) is outside the model's 2 blocks"), message)
    }

    func testMappedTensorsPointIntoTheFileOnlyTheNeededBytes() throws {
        try writer.json("config.json", TinyModels.gpt2Config(layers: 3))
        try writer.gpt2Tokenizer()
        try writer.safetensors("model.safetensors", TinyModels.gpt2Tensors(layers: 3))
        let layout = try CheckpointLayouts.layout(for: ConfigJSON(path: writer.path("config.json")))
        let store = try TensorStore(directory: writer.directory)
        let resolved = try SafetensorsFormatProvider.neededTensors(layout: layout, blocks: 1..<2).map {
            try SafetensorsFormatProvider.resolve($0.0, purpose: $0.1, in: store)
        }
        let storage = ModelStorage()
        let tensors = try TensorMapper.map(resolved, into: storage)
        XCTAssertEqual(tensors.count, 12)
        let header = try SafetensorsHeader(path: writer.path("model.safetensors"))
        let mapped = storage.regions.reduce(0) { $0 + $1.bytes.count }
        XCTAssertEqual(storage.regions.count, 1, "the block's tensors are neighbours: one mapping")
        XCTAssertLessThan(mapped, header.fileSize / 4, "a middle shard maps its block, not the embeddings")
        let model = try provider.open(path: directory, blockStart: 1, blockEnd: 2)
        let norm = try tensor(model, "blk.1.ffn_norm.bias")
        XCTAssertEqual(floats(norm), CheckpointWriter.ramp(8, scale: 0.001))
        XCTAssertEqual(norm.dims, [8])
    }

    // MARK: - Layouts

    func testGPT2Conv1DWeightsAreTransposedIntoOutputRows() throws {
        try gpt2(prefix: "transformer.")
        let model = try provider.open(path: directory, blockStart: 0, blockEnd: 1)
        let qkv = try tensor(model, "blk.0.attn_qkv.weight")
        XCTAssertEqual(qkv.dims, [8, 24], "8 inputs per row, 24 output rows")
        let stored = CheckpointWriter.ramp(8 * 24, scale: 0.001) // [in 8, out 24] row-major
        let values = floats(qkv)
        for out in 0..<24 {
            for input in 0..<8 { XCTAssertEqual(values[out * 8 + input], stored[input * 24 + out]) }
        }
        XCTAssertEqual(try tensor(model, "blk.0.ffn_down.weight").dims, [32, 8])
        XCTAssertEqual(floats(try tensor(model, "blk.0.attn_qkv.bias")), CheckpointWriter.ramp(24, scale: 0.001))
        let description = try JSONDecoder().decode(ModelDescription.self, from: Data(model.descriptionText.utf8))
        XCTAssertEqual(description.architecture, "gpt2")
        XCTAssertEqual(description.contextLength, 16)
        XCTAssertEqual(description.feedForwardLength, 32)
        XCTAssertEqual(description.activation, "gelu_tanh")
        XCTAssertEqual(description.ropeStyle, "none")
        XCTAssertTrue(description.tiedEmbeddings)
    }

    func testBloomFusedQKVRowsAreRegroupedByProjection() throws {
        try writer.json("config.json", TinyModels.bloomConfig())
        try writer.gpt2Tokenizer()
        try writer.safetensors("model.safetensors", TinyModels.bloomTensors())
        let model = try provider.open(path: directory, blockStart: 0, blockEnd: nil)
        let weight = floats(try tensor(model, "blk.1.attn_qkv.weight")), bias = floats(try tensor(model, "blk.1.attn_qkv.bias"))
        // Stored rows run (head, part, d) with 2 heads of 4; the host wants (part, head, d).
        for part in 0..<3 {
            for head in 0..<2 {
                for d in 0..<4 {
                    let hostRow = part * 8 + head * 4 + d, storedRow = head * 12 + part * 4 + d
                    XCTAssertEqual(bias[hostRow], Float(storedRow))
                    XCTAssertEqual(Array(weight[hostRow * 8..<hostRow * 8 + 8]), CheckpointWriter.ramp(8).map { $0 + Float(storedRow * 8) })
                }
            }
        }
        XCTAssertTrue(names(model).isSuperset(of: ["token_embd_norm.weight", "token_embd_norm.bias", "output_norm.bias"]))
        let description = try JSONDecoder().decode(ModelDescription.self, from: Data(model.descriptionText.utf8))
        XCTAssertEqual(description.architecture, "bloom")
        XCTAssertEqual(description.feedForwardLength, 32)
        XCTAssertEqual(description.contextLength, 2048)
    }

    func testShardedLlamaIsResolvedThroughTheIndexAndOnlyItsFilesAreRead() throws {
        try writer.json("config.json", TinyModels.llamaConfig(layers: 3))
        try writer.gpt2Tokenizer()
        var weightMap: [String: String] = [:]
        for (index, tensors) in TinyModels.llamaTensors(layers: 3).enumerated() {
            let file = "model-0000\(index + 1)-of-00004.safetensors"
            try writer.safetensors(file, tensors)
            for t in tensors { weightMap[t.name] = file }
        }
        try writer.json("model.safetensors.index.json", ["metadata": ["total_size": 0], "weight_map": weightMap])
        // A middle shard needs block 1 only: the other files may even be unreadable.
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: writer.path("model-00001-of-00004.safetensors")))
        let middle = try provider.open(path: directory, blockStart: 1, blockEnd: 2)
        XCTAssertEqual(names(middle).count, 9)
        XCTAssertEqual(try tensor(middle, "blk.1.attn_k.weight").dims, [8, 4])
        let description = try JSONDecoder().decode(ModelDescription.self, from: Data(middle.descriptionText.utf8))
        XCTAssertEqual(description.ropeStyle, "neox")
        XCTAssertEqual(description.ropeFreqBase, 500)
        XCTAssertEqual(description.headCountKV, 1)
        XCTAssertFalse(description.tiedEmbeddings)

        let message = failure { try self.provider.open(path: self.directory, blockStart: 0, blockEnd: 1) }
        XCTAssertTrue(message.contains("model-00001-of-00004.safetensors"), message)

        try writer.json("model.safetensors.index.json", ["weight_map": weightMap.merging(["model.layers.1.input_layernorm.weight": "model-00009-of-00009.safetensors"]) { $1 }])
        let missingFile = failure { try self.provider.open(path: self.directory, blockStart: 1, blockEnd: 2) }
        XCTAssertTrue(missingFile.contains("refers to model-00009-of-00009.safetensors, which does not exist"), missingFile)
    }

    // MARK: - Errors naming the tensor

    func testMissingTensorsWrongShapesAndDtypesNameTheTensor() throws {
        try writer.json("config.json", TinyModels.gpt2Config())
        try writer.gpt2Tokenizer()
        var tensors = TinyModels.gpt2Tensors()
        tensors.removeAll { $0.name == "h.1.mlp.c_fc.bias" }
        try writer.safetensors("model.safetensors", tensors)
        XCTAssertNoThrow(try provider.open(path: directory, blockStart: 0, blockEnd: 1), "block 0 is complete")
        let missing = failure { try self.provider.open(path: self.directory, blockStart: 1, blockEnd: 2) }
        XCTAssertTrue(missing.contains("tensor h.1.mlp.c_fc.bias (needed for block 1) is missing"), missing)

        tensors = TinyModels.gpt2Tensors()
        if let i = tensors.firstIndex(where: { $0.name == "h.0.attn.c_attn.weight" }) {
            tensors[i] = .init(name: "h.0.attn.c_attn.weight", shape: [8, 23], values: CheckpointWriter.ramp(8 * 23))
        }
        try writer.safetensors("model.safetensors", tensors)
        let shape = failure { try self.provider.open(path: self.directory, blockStart: 0, blockEnd: 1) }
        XCTAssertTrue(shape.contains("tensor h.0.attn.c_attn.weight in \(writer.path("model.safetensors")) has shape [8, 23], but config.json implies [8, 24]"), shape)

        tensors = TinyModels.gpt2Tensors()
        if let i = tensors.firstIndex(where: { $0.name == "wpe.weight" }) {
            tensors[i] = .init(name: "wpe.weight", dtype: "I64", shape: [16, 8], values: CheckpointWriter.ramp(128))
        }
        try writer.safetensors("model.safetensors", tensors)
        let dtype = failure { try self.provider.open(path: self.directory, blockStart: 0, blockEnd: 1) }
        XCTAssertTrue(dtype.contains("tensor wpe.weight in \(writer.path("model.safetensors")) has dtype I64; supported: F32, F16, BF16"), dtype)
        XCTAssertNoThrow(try provider.open(path: directory, blockStart: 1, blockEnd: 2), "the positions are not mapped past the first shard")
    }

    func testConfigurationsTheHostCannotRunAreRefused() throws {
        try writer.gpt2Tokenizer()
        try writer.safetensors("model.safetensors", TinyModels.gpt2Tensors())
        var config = TinyModels.gpt2Config()
        config["activation_function"] = "relu"
        try writer.json("config.json", config)
        XCTAssertTrue(failure { try self.provider.open(path: self.directory, blockStart: 0, blockEnd: nil) }.contains("activation_function 'relu'"))
        config = TinyModels.gpt2Config()
        config["model_type"] = "falcon"
        try writer.json("config.json", config)
        XCTAssertTrue(failure { try self.provider.open(path: self.directory, blockStart: 0, blockEnd: nil) }.contains(
            "model_type 'falcon' (supported: bloom, gemma3_text, gpt2, llama, mistral, qwen2, qwen3)"))
        config = TinyModels.gpt2Config()
        config.removeValue(forKey: "n_embd")
        try writer.json("config.json", config)
        XCTAssertTrue(failure { try self.provider.open(path: self.directory, blockStart: 0, blockEnd: nil) }.contains("n_embd or hidden_size is missing"))
        var llama = TinyModels.llamaConfig()
        llama["rope_parameters"] = ["rope_theta": 500000.0, "rope_type": "llama3", "factor": 8.0]
        try writer.json("config.json", llama)
        XCTAssertTrue(failure { try self.provider.open(path: self.directory, blockStart: 0, blockEnd: nil) }.contains("rope type 'llama3'"))
    }

    // MARK: - Tokenizer

    private func tokenizer(_ config: [String: Any] = TinyModels.gpt2Config()) throws -> TokenizerDescription {
        try TokenizerJSON(path: writer.path("tokenizer.json"))
            .describe(modelConfig: ConfigJSON(path: "config.json", values: config),
                      tokenizerConfig: try ConfigJSON.optional(path: writer.path("tokenizer_config.json")),
                      chatTemplateFile: writer.path("chat_template.jinja"))
    }

    func testTokenizerJSONBecomesTheHostsTokenizerDescription() throws {
        try writer.gpt2Tokenizer(merges: ["Ġ t"])
        var description = try tokenizer()
        XCTAssertEqual(description.model, "gpt2")
        XCTAssertEqual(description.pre, "gpt2")
        XCTAssertEqual(description.tokens.count, 258)
        XCTAssertEqual(description.tokens[256], "Ġt")
        XCTAssertEqual(description.tokenTypes[257], 3, "special added tokens are control tokens")
        XCTAssertEqual(description.tokenTypes[0], 1)
        XCTAssertEqual(description.merges, ["Ġ t"])
        XCTAssertEqual(description.eosTokenID, 257)
        XCTAssertFalse(description.addBOSToken)
        XCTAssertEqual(description.cleanSpaces, false)

        try writer.gpt2Tokenizer(merges: [["Ġ", "t"]])
        try writer.json("tokenizer_config.json", ["chat_template": "{{ messages }}", "clean_up_tokenization_spaces": true])
        description = try tokenizer()
        XCTAssertEqual(description.merges, ["Ġ t"], "the [a, b] form of newer tokenizers")
        XCTAssertEqual(description.chatTemplate, "{{ messages }}")
        XCTAssertEqual(description.cleanSpaces, true)
    }

    func testEachSupportedPreTokenizerIsNamedAndOthersAreRefused() throws {
        let byteLevel = { (regex: Bool) -> [String: Any] in ["type": "ByteLevel", "add_prefix_space": false, "use_regex": regex] }
        let split = { (pattern: String) -> [String: Any] in
            ["type": "Split", "pattern": ["Regex": pattern], "behavior": "Isolated", "invert": false]
        }
        let cases: [(Any, String)] = [
            (byteLevel(true), "gpt2"),
            (["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], byteLevel(true)]], "smollm"),
            (["type": "Sequence", "pretokenizers": [split(TokenizerJSON.bloomPattern), byteLevel(false)]], "bloom"),
            (["type": "Sequence", "pretokenizers": [split(TokenizerJSON.llama3Pattern), byteLevel(false)]], "smaug-bpe"),
            (["type": "Sequence", "pretokenizers": [split(TokenizerJSON.qwen2Pattern), byteLevel(false)]], "qwen2"),
        ]
        for (pre, name) in cases {
            try writer.gpt2Tokenizer(preTokenizer: pre)
            XCTAssertEqual(try tokenizer().pre, name)
        }
        try writer.gpt2Tokenizer(preTokenizer: ["type": "Metaspace", "replacement": "▁"])
        XCTAssertTrue(failure { try self.tokenizer() }.contains("pre-tokenizer type Metaspace is not supported"))
        try writer.gpt2Tokenizer(preTokenizer: ["type": "Sequence", "pretokenizers": [split("\\w+"), byteLevel(false)]])
        XCTAssertTrue(failure { try self.tokenizer() }.contains("is not one of GPT-2's, SmolLM's, BLOOM's, Llama 3's or Qwen2's"))
    }

    func testATemplatePostProcessorMeansTheModelWantsBOS() throws {
        try writer.gpt2Tokenizer()
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: writer.path("tokenizer.json")))) as? [String: Any])
        object["post_processor"] = ["type": "TemplateProcessing",
                                    "single": [["SpecialToken": ["id": "<|endoftext|>", "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]]]
        try writer.json("tokenizer.json", object)
        let description = try tokenizer()
        XCTAssertTrue(description.addBOSToken)
        XCTAssertEqual(description.bosTokenID, 257)
    }
}
