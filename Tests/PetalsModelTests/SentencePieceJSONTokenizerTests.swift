import Foundation
import PetalsModel
import PetalsTestSupport
import XCTest

/// SentencePiece vocabularies in tokenizer.json (BPE with byte_fallback, the three forms
/// transformers' converters write: Gemma's, legacy Llama's, Metaspace's two prepend schemes) through the safetensors
/// plugin, against the tokenizers library's ids and decoded text
/// (Tests/Fixtures/sentencepiece-json, scripts/reference/make_sentencepiece_json_fixtures.sh).
final class SentencePieceJSONTokenizerTests: XCTestCase {
    struct Case: Decodable {
        let text: String
        let ids: [Int]
        let decoded: String
    }
    struct Cases: Decodable { let cases: [Case] }

    static let fixtures = TestModel.repositoryRoot.appendingPathComponent("Tests/Fixtures/sentencepiece-json")
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("spm-json-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    /// The tiny Gemma 3 checkpoint with the style's tokenizer files in place of its own.
    private func tokenizer(_ style: String, model: String) throws -> Tokenizer {
        let directory = scratch.appendingPathComponent("\(style)-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: SafetensorsFixture.directory.appendingPathComponent("gemma3"), to: directory)
        for file in ["tokenizer.json", "tokenizer_config.json"] {
            let target = directory.appendingPathComponent(file)
            try FileManager.default.removeItem(at: target)
            try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent(style).appendingPathComponent(file), to: target)
        }
        let description = try TestModel.host().openModel(path: directory.path, blocks: 0..<0).description.tokenizer
        XCTAssertEqual(description.model, model)
        return try Tokenizer(description)
    }

    private func check(_ style: String, model: String = "sentencepiece-bpe") throws {
        let tokenizer = try tokenizer(style, model: model)
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent(style).appendingPathComponent("cases.json"))
        let cases = try JSONDecoder().decode(Cases.self, from: data).cases
        XCTAssertGreaterThan(cases.count, 40)
        var fallback = 0
        for c in cases {
            let ids = tokenizer.encode(c.text)
            XCTAssertEqual(ids, c.ids, "\(style): \(c.text.debugDescription)")
            XCTAssertEqual(tokenizer.decode(c.ids, renderSpecial: true), c.decoded, "\(style): decode of \(c.text.debugDescription)")
            fallback += ids.filter { tokenizer.tokenText($0)?.hasPrefix("<0x") == true }.count
        }
        if model == "sentencepiece-bpe" { XCTAssertGreaterThan(fallback, 100, "\(style): the cases exercise byte fallback") }
    }

    func testGemmaStyleEqualsTokenizers() throws { try check("gemma") }

    func testLegacyLlamaStyleEqualsTokenizers() throws { try check("llama-legacy") }

    func testMetaspaceStylesEqualTokenizers() throws {
        try check("metaspace-first")
        try check("metaspace-always")
    }

    /// Byte-level BPE after an NFC normalizer (Qwen2.5's tokenizer.json): decomposed and composed
    /// spellings give the same ids, as in tokenizers.
    func testByteLevelBPEWithAnNFCNormalizerEqualsTokenizers() throws {
        try check("bytelevel-nfc", model: "gpt2")
        let tokenizer = try tokenizer("bytelevel-nfc", model: "gpt2")
        XCTAssertEqual(tokenizer.encode("Cafe\u{301}"), tokenizer.encode("Caf\u{e9}"))
    }

    /// Forms the host does not implement are refused with what was found.
    func testOtherSentencePieceFormsAreRefusedByName() throws {
        let cases: [(String, (inout [String: Any]) -> Void, String)] = [
            ("metaspace-first", { $0["pre_tokenizer"] = ["type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "first", "split": true] },
             "Metaspace with split true"),
            ("gemma", { $0["normalizer"] = ["type": "NFKC"] }, "normalizer {\"type\":\"NFKC\"} is not supported"),
            ("gemma", { $0["normalizer"] = NSNull(); $0["pre_tokenizer"] = NSNull() }, "needs spaces spelled"),
            ("gemma", { $0["pre_tokenizer"] = ["type": "Whitespace"] }, "pre-tokenizer {\"type\":\"Whitespace\"}"),
        ]
        for (style, edit, reason) in cases {
            let directory = scratch.appendingPathComponent("\(style)-\(UUID().uuidString)")
            try FileManager.default.copyItem(at: SafetensorsFixture.directory.appendingPathComponent("gemma3"), to: directory)
            let source = Self.fixtures.appendingPathComponent(style).appendingPathComponent("tokenizer.json")
            var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: source)) as? [String: Any])
            edit(&object)
            let target = directory.appendingPathComponent("tokenizer.json")
            try FileManager.default.removeItem(at: target)
            try JSONSerialization.data(withJSONObject: object).write(to: target)
            do {
                _ = try TestModel.host().openModel(path: directory.path, blocks: 0..<0)
                XCTFail("\(style): \(reason) opened")
            } catch {
                XCTAssertTrue("\(error)".contains(reason), "\(style): \(error)")
            }
        }
    }
}
