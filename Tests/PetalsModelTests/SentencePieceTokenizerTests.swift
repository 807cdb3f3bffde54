import Foundation
import PetalsModel
import PetalsTestSupport
import PluginAPI
import XCTest

/// The SentencePiece vocabulary of the real Gemma 3 file (262k tokens with scores, byte
/// fallback, no merges) against llama.cpp's llama_tokenize (Tests/Fixtures/gemma3/tokenize.json,
/// the 27 strings of the SmolLM2 fixture).
final class SentencePieceTokenizerTests: XCTestCase {
    struct Case: Decodable {
        let text: String
        let ids: [Int]
        let ids_parse_special_off: [Int]
    }
    struct Fixture: Decodable { let cases: [Case] }

    static let gemmaPath = TestModel.repositoryRoot.appendingPathComponent("models/gemma-3-270m-q4_k_m.gguf").path
    static let fixtures = TestModel.repositoryRoot.appendingPathComponent("Tests/Fixtures/gemma3")

    /// The Gemma file's tokenizer, read through the GGUF plugin (no blocks mapped).
    static func gemmaTokenizer() throws -> Tokenizer {
        guard FileManager.default.fileExists(atPath: gemmaPath) else {
            throw XCTSkip("Gemma model not present at \(gemmaPath); run scripts/setup.sh")
        }
        let model = try TestModel.host().openModel(path: gemmaPath, blocks: 0..<0)
        return try Tokenizer(model.description.tokenizer)
    }

    func testEveryFixtureStringTokenizesLikeLlamaCpp() throws {
        let tokenizer = try Self.gemmaTokenizer()
        XCTAssertEqual(tokenizer.vocabularySize, 262_144)
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("tokenize.json"))
        let cases = try JSONDecoder().decode(Fixture.self, from: data).cases
        XCTAssertEqual(cases.count, 27)
        var matched = 0
        for c in cases {
            let ours = tokenizer.encode(c.text, parseSpecial: true)
            XCTAssertEqual(ours, c.ids, "parse_special on: \(c.text.debugDescription)")
            XCTAssertEqual(tokenizer.encode(c.text, parseSpecial: false), c.ids_parse_special_off,
                           "parse_special off: \(c.text.debugDescription)")
            if ours == c.ids { matched += 1 }
            // Byte fallback makes SentencePiece lossless too.
            XCTAssertEqual(tokenizer.decode(c.ids, renderSpecial: true), c.text, "round trip of \(c.text.debugDescription)")
        }
        print("Gemma tokenizer vs llama.cpp: \(matched)/\(cases.count) strings identical")
    }

    func testTheFileDecidesBOSAndSpacePrefixAndEndOfTurn() throws {
        let tokenizer = try Self.gemmaTokenizer()
        XCTAssertTrue(tokenizer.addsBOS)
        XCTAssertEqual(tokenizer.bosTokenID.flatMap(tokenizer.tokenText), "<bos>")
        // tokenizer.ggml.add_space_prefix is false: no "▁" before the first word.
        XCTAssertEqual(tokenizer.encode("Hello").map { tokenizer.tokenText($0) ?? "?" }, ["Hello"])
        let endOfTurn = try XCTUnwrap(tokenizer.id(of: "<end_of_turn>"))
        XCTAssertTrue(tokenizer.isEndOfGeneration(endOfTurn))
        XCTAssertTrue(tokenizer.isControl(try XCTUnwrap(tokenizer.id(of: "<start_of_turn>"))))
    }

    /// A vocabulary built by hand: merges go by score, leftmost on ties, and characters without
    /// a token become <0xXX> byte tokens; the space prefix follows the description.
    func testScoreMergesAndByteFallback() throws {
        let tokens = ["<unk>", "<s>", "</s>", "<0x41>", "<0xC3>", "<0xA9>", "▁", "a", "b", "ab", "▁a", "bb", "▁ab"]
        var types = [Int32](repeating: 1, count: tokens.count)
        types[0] = 2; types[1] = 3; types[2] = 3; types[3] = 6; types[4] = 6; types[5] = 6
        let scores: [Float] = [0, 0, 0, 0, 0, 0, -1, -2, -2, -3, -1, -0.5, -0.1]
        func tokenizer(prefix: Bool) throws -> Tokenizer {
            try Tokenizer(TokenizerDescription(model: "llama", pre: "default", tokens: tokens, tokenTypes: types,
                                               merges: [], bosTokenID: 1, eosTokenID: 2, addBOSToken: true,
                                               chatTemplate: nil, scores: scores, addSpacePrefix: prefix,
                                               unknownTokenID: 0))
        }
        let spm = try tokenizer(prefix: true)
        // " abb" → "▁abb": "bb" (-0.5) beats "ab" (-3) and "▁a" (-1) ... then "▁a" + "bb" has no token.
        XCTAssertEqual(spm.encode("abb").map { tokens[$0] }, ["▁a", "bb"])
        XCTAssertEqual(spm.encode("ab").map { tokens[$0] }, ["▁ab"])
        // "é" has no token: its two UTF-8 bytes; "A" falls back to <0x41>.
        XCTAssertEqual(spm.encode("é").map { tokens[$0] }, ["▁", "<0xC3>", "<0xA9>"])
        XCTAssertEqual(try tokenizer(prefix: false).encode("Aa").map { tokens[$0] }, ["<0x41>", "a"])
        XCTAssertEqual(spm.decode(spm.encode("abb é")), "abb é")
    }
}
