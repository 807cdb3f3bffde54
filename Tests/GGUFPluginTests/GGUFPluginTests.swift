import Foundation
@testable import GGUFPlugin
import PluginAPI
import XCTest

final class GGUFPluginTests: XCTestCase {
    private var scratch: URL!
    private let provider = GGUFFormatProvider()

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    private func write(_ bytes: [UInt8], _ name: String = "model.gguf") throws -> String {
        let url = scratch.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    private func names(_ model: ExportedModel) -> Set<String> { Set(model.tensors.map(\.name)) }

    func testReadsMetadataAndTensorsOfVersion2And3Files() throws {
        for version: UInt32 in [2, 3] {
            var writer = GGUFWriter.tinyLlama(version: version)
            writer.alignment = version == 2 ? 64 : 32
            let path = try write(writer.bytes(), "v\(version).gguf")
            let file = try MappedFile(path: path)
            let header = try GGUFHeader(bytes: file.bytes, path: path)
            XCTAssertEqual(header.version, version)
            XCTAssertEqual(header.alignment, writer.alignment)
            XCTAssertEqual(header.metadata["llama.block_count"], .uint(3))
            XCTAssertEqual(header.metadata["some.float_array"], .floats([1, 2, 3]))  // f32 arrays stay unboxed
            XCTAssertEqual(header.metadata["some.flag"], .bool(true))
            XCTAssertEqual(header.metadata["tokenizer.ggml.tokens"]?.stringArray?.count, 32)
            XCTAssertEqual(header.tensors.count, writer.tensors.count)
            // Each tensor's bytes are where the header says.
            for (info, written) in zip(header.tensors, writer.tensors) {
                XCTAssertEqual(info.name, written.name)
                XCTAssertEqual(info.dims, written.dims)
                let start = header.dataOffset + info.offset
                XCTAssertEqual(Array(file.bytes[start..<start + written.data.count]), written.data, info.name)
            }
        }
    }

    func testTheDescriptionCarriesHyperparametersAndTokenizer() throws {
        let path = try write(GGUFWriter.tinyLlama().bytes())
        let model = try provider.open(path: path, blockStart: 0, blockEnd: nil)
        let json = model.descriptionText
        let d = try JSONDecoder().decode(ModelDescription.self, from: Data(json.utf8))
        XCTAssertEqual(d.architecture, "llama")
        XCTAssertEqual(d.blockCount, 3)
        XCTAssertEqual(d.headCount, 4)
        XCTAssertEqual(d.headCountKV, 2)
        XCTAssertEqual(d.ropeDimensionCount, 16)
        XCTAssertEqual(d.ropeStyle, "normal")
        XCTAssertEqual(d.vocabSize, 32)
        XCTAssertFalse(d.tiedEmbeddings)
        XCTAssertEqual(d.tokenizer.pre, "smollm")
        XCTAssertEqual(d.tokenizer.merges, ["t 1", "t 2"])
        XCTAssertEqual(d.tokenizer.bosTokenID, 1)
        XCTAssertFalse(d.tokenizer.addBOSToken)
    }

    func testShardsExposeOnlyTheirBlocksPlusEmbeddingsOrHead() throws {
        let path = try write(GGUFWriter.tinyLlama().bytes())
        let first = names(try provider.open(path: path, blockStart: 0, blockEnd: 1))
        XCTAssertTrue(first.contains("token_embd.weight"))
        XCTAssertFalse(first.contains("output_norm.weight"))
        XCTAssertTrue(first.allSatisfy { !$0.hasPrefix("blk.1.") && !$0.hasPrefix("blk.2.") })
        XCTAssertEqual(first.filter { $0.hasPrefix("blk.0.") }.count, 9)

        let middle = names(try provider.open(path: path, blockStart: 1, blockEnd: 2))
        XCTAssertEqual(middle, Set(first.filter { $0.hasPrefix("blk.0.") }.map { $0.replacingOccurrences(of: "blk.0.", with: "blk.1.") }))

        let last = names(try provider.open(path: path, blockStart: 2, blockEnd: 3))
        XCTAssertTrue(last.isSuperset(of: ["output_norm.weight", "output.weight"]))
        XCTAssertFalse(last.contains("token_embd.weight"))
    }

    func testATiedHeadShipsTheEmbeddingsWithTheLastShard() throws {
        let path = try write(GGUFWriter.tinyLlama(tiedHead: true).bytes())
        let last = try provider.open(path: path, blockStart: 2, blockEnd: nil)
        XCTAssertTrue(names(last).contains("token_embd.weight"))
        XCTAssertTrue(last.descriptionText.contains("\"tied_embeddings\":true"))
    }

    func testEmptyRangesMapOnlyTheEmbeddingsOrOnlyTheHead() throws {
        let path = try write(GGUFWriter.tinyLlama().bytes())
        XCTAssertEqual(names(try provider.open(path: path, blockStart: 0, blockEnd: 0)), ["token_embd.weight"])
        XCTAssertEqual(names(try provider.open(path: path, blockStart: 3, blockEnd: nil)),
                       ["output.weight", "output_norm.weight"])
        XCTAssertEqual(names(try provider.open(path: path, blockStart: 1, blockEnd: 1)), [])
    }

    func testOutOfRangeBlocksAreAClearError() throws {
        let path = try write(GGUFWriter.tinyLlama().bytes())
        for (start, end) in [(0, 4), (2, 1), (-1, 1), (4, nil)] as [(Int, Int?)] {
            XCTAssertThrowsError(try provider.open(path: path, blockStart: start, blockEnd: end)) {
                XCTAssertTrue("\($0)".contains("outside the model's 3 blocks"), "\($0)")
            }
        }
    }

    func testScaledRotaryEmbeddingsAreRefusedWithTheirReason() throws {
        let plain = GGUFWriter.tinyLlama()
        // Settings that leave RoPE plain still open.
        for extra in [("llama.rope.scaling.type", GGUFWriter.Value.string("none")), ("llama.rope.scaling.factor", .f32(1))] {
            var writer = plain
            writer.metadata.append(extra)
            XCTAssertNoThrow(try provider.open(path: try write(writer.bytes(), "plain-\(extra.0).gguf"), blockStart: 0, blockEnd: nil))
        }
        let scaled: [(String, GGUFWriter, String)] = [
            ("yarn", { var w = plain; w.metadata.append(("llama.rope.scaling.type", .string("yarn"))); return w }(), "rope scaling 'yarn'"),
            ("factor", { var w = plain; w.metadata.append(("llama.rope.scaling.factor", .f32(4))); return w }(), "rope scaling factor 4"),
            ("freqs", { var w = plain; w.tensors.append(("rope_freqs.weight", [8], 0, [UInt8](repeating: 0, count: 32))); return w }(),
             "rope_freqs.weight"),
        ]
        for (name, writer, reason) in scaled {
            let path = try write(writer.bytes(), "\(name).gguf")
            XCTAssertThrowsError(try provider.open(path: path, blockStart: 1, blockEnd: 2), name) {
                XCTAssertTrue("\($0)".contains(reason) && "\($0)".contains("only plain rotary embeddings"), "\($0)")
            }
        }
    }

    /// Mistral-family settings a llama file may carry: attention.scale is passed on (llama.cpp's
    /// llama graph uses it instead of 1 / sqrt(head size)), a tekken vocabulary adds BOS unless
    /// the file says otherwise (llama.cpp's default for that pre-tokenizer), and Mixtral-style
    /// experts are refused by name.
    func testMistralFamilySettingsOfLlamaFiles() throws {
        func description(_ writer: GGUFWriter, _ name: String) throws -> ModelDescription {
            let model = try provider.open(path: try write(writer.bytes(), name), blockStart: 0, blockEnd: nil)
            return try JSONDecoder().decode(ModelDescription.self, from: Data(model.descriptionText.utf8))
        }
        var scaled = GGUFWriter.tinyLlama()
        XCTAssertNil(try description(scaled, "plain.gguf").attentionScale)
        scaled.metadata.append(("llama.attention.scale", .f32(0.125)))
        XCTAssertEqual(try description(scaled, "scaled.gguf").attentionScale, 0.125)

        var tekken = GGUFWriter.tinyLlama()
        tekken.metadata = tekken.metadata.map { $0.0 == "tokenizer.ggml.pre" ? ($0.0, .string("tekken")) : $0 }
        XCTAssertTrue(try description(tekken, "tekken.gguf").tokenizer.addBOSToken)
        tekken.metadata.append(("tokenizer.ggml.add_bos_token", .bool(false)))
        XCTAssertFalse(try description(tekken, "tekken-no-bos.gguf").tokenizer.addBOSToken)

        var experts = GGUFWriter.tinyLlama()
        experts.metadata.append(("llama.expert_count", .u32(8)))
        XCTAssertThrowsError(try provider.open(path: try write(experts.bytes(), "moe.gguf"), blockStart: 0, blockEnd: nil)) {
            XCTAssertTrue("\($0)".contains("mixture of 8 experts"), "\($0)")
        }
    }

    func testProbeRecognisesOnlyGGUF() throws {
        XCTAssertEqual(provider.probe(path: try write(GGUFWriter.tinyLlama().bytes())), 100)
        XCTAssertEqual(provider.probe(path: try write(Array("{\"not\": \"gguf\"}".utf8), "x.json")), 0)
        XCTAssertEqual(provider.probe(path: scratch.appendingPathComponent("missing").path), 0)
        XCTAssertEqual(provider.probe(path: scratch.path), 0)
    }

    func testUnsupportedTensorTypesAreNamed() throws {
        var writer = GGUFWriter.tinyLlama()
        writer.tensors[2].type = 16 // IQ2_XXS: no kernel here
        let path = try write(writer.bytes())
        XCTAssertThrowsError(try provider.open(path: path, blockStart: 0, blockEnd: nil)) {
            XCTAssertTrue("\($0)".contains("blk.0.attn_q.weight") && "\($0)".contains("type 16") && "\($0)".contains("Q4_K, Q5_K, Q6_K"), "\($0)")
        }
    }

    func testEveryTruncationIsRejected() throws {
        let bytes = GGUFWriter.tinyLlama().bytes()
        var rng = SystemRandomNumberGenerator()
        var cuts = Set((0..<120).map { _ in Int.random(in: 0..<(bytes.count - 1), using: &rng) })
        cuts.formUnion([0, 3, 4, 8, 23, 24, bytes.count - 1])
        for cut in cuts.sorted() {
            let path = try write(Array(bytes.prefix(cut)), "cut.gguf")
            XCTAssertThrowsError(try provider.open(path: path, blockStart: 0, blockEnd: nil), "truncated at \(cut)")
        }
    }

    func testMutatedFilesOpenOrFailButNeverCrash() throws {
        let original = GGUFWriter.tinyLlama().bytes()
        var seed: UInt64 = 0x5EED
        func next() -> Int {
            seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17
            return Int(seed % UInt64(Int32.max))
        }
        var opened = 0, rejected = 0
        for round in 0..<300 {
            var bytes = original
            switch round % 3 {
            case 0: // flip a few bytes anywhere in the header region
                for _ in 0..<(1 + next() % 4) { bytes[next() % min(bytes.count, 2048)] ^= UInt8(1 + next() % 255) }
            case 1: // inflate a length or count field
                let at = next() % min(bytes.count - 8, 2048)
                for i in 0..<8 { bytes[at + i] = 0xFF }
            default: // flip and truncate
                bytes[next() % bytes.count] ^= 0x5A
                bytes = Array(bytes.prefix(1 + next() % bytes.count))
            }
            let path = try write(bytes, "fuzz.gguf")
            do {
                _ = try provider.open(path: path, blockStart: 0, blockEnd: nil)
                opened += 1
            } catch {
                XCTAssertFalse("\(error)".isEmpty)
                rejected += 1
            }
        }
        XCTAssertEqual(opened + rejected, 300)
        XCTAssertGreaterThan(rejected, 100)
    }
}
