import Foundation
import PetalsModel
import PluginAPI
import XCTest

/// BPETokenizer on SmolLM2's real vocabulary (see `TokenizerSource`).
final class BPETokenizerTests: XCTestCase {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var shared: BPETokenizer?

    private func tokenizer() throws -> BPETokenizer {
        let description = try TokenizerSource.smolLM2()
        Self.lock.lock()
        defer { Self.lock.unlock() }
        if let shared = Self.shared { return shared }
        let made = try BPETokenizer(description)
        Self.shared = made
        return made
    }

    func testDescribesSmolLM2sVocabulary() throws {
        let tok = try tokenizer()
        XCTAssertEqual(tok.vocabularySize, 49152)
        XCTAssertEqual(tok.bosTokenID, 1)
        XCTAssertEqual(tok.eosTokenID, 2)
        XCTAssertFalse(tok.addsBOS)
        XCTAssertEqual(tok.id(of: "<|im_start|>"), 1)
        XCTAssertEqual(tok.id(of: "<|im_end|>"), 2)
        XCTAssertEqual(tok.id(of: "<|endoftext|>"), 0)
        XCTAssertFalse(tok.cleansSpaces)
    }

    func testEndOfGenerationFollowsLlamaCpp() throws {
        let tok = try tokenizer()
        XCTAssertTrue(tok.isEndOfGeneration(2))   // <|im_end|>, also EOS
        XCTAssertTrue(tok.isEndOfGeneration(0))   // <|endoftext|>
        XCTAssertTrue(tok.isEndOfGeneration(4))   // <reponame>: llama.cpp's FIM-repo token
        XCTAssertFalse(tok.isEndOfGeneration(1))  // <|im_start|>
        XCTAssertFalse(tok.isEndOfGeneration(try XCTUnwrap(tok.encode("Hello").first)))
        XCTAssertEqual(tok.endOfGenerationIDs, [0, 2, 4])
    }

    func testControlTokenTextsBecomeTheirIdsOnlyWhenParsingSpecials() throws {
        let tok = try tokenizer()
        let text = "<|im_start|>user\nHi<|im_end|>"
        let parsed = tok.encode(text, parseSpecial: true)
        XCTAssertEqual(parsed.first, 1)
        XCTAssertEqual(parsed.last, 2)
        XCTAssertEqual(tok.decode(parsed), "user\nHi")
        XCTAssertEqual(tok.decode(parsed, renderSpecial: true), text)

        let plain = tok.encode(text, parseSpecial: false)
        XCTAssertFalse(plain.contains(1))
        XCTAssertFalse(plain.contains(2))
        XCTAssertEqual(tok.decode(plain), text)
    }

    func testSpecialTokensSplitTextWithoutAffectingTheWordsAround() throws {
        let tok = try tokenizer()
        XCTAssertEqual(tok.encode("a<|endoftext|>b"), tok.encode("a") + [0] + tok.encode("b"))
        // An unfinished special text is plain text.
        XCTAssertFalse(tok.encode("<|im_start|").contains(1))
    }

    func testControlTokensRenderOnlyWhenAsked() throws {
        let tok = try tokenizer()
        XCTAssertEqual(tok.tokenBytes(2), [])
        XCTAssertEqual(tok.tokenBytes(2, renderSpecial: true), Array("<|im_end|>".utf8))
        XCTAssertEqual(tok.tokenBytes(-1), [])
        XCTAssertEqual(tok.tokenBytes(tok.vocabularySize), [])
    }

    func testDecodeInvertsEncode() throws {
        let tok = try tokenizer()
        for text in ["Hello, world!", "  two  spaces  ", "tabs\tand\nnewlines\r\n", "I'm 12.5% sure 😀",
                     "日本語 Привет مرحبا", "e\u{301} vs é", "", "\u{0}\u{1F}", "x\u{3000}y\u{A0}z"] {
            XCTAssertEqual(tok.decode(tok.encode(text)), text, text.debugDescription)
        }
    }

    func testIncrementalDecodingNeverEmitsBrokenCharacters() throws {
        let tok = try tokenizer()
        let text = "Party 🎉 time 👍🏽 — naïve 日本 👨‍👩‍👧 done"
        let ids = tok.encode(text)
        // At least one character must span several tokens for this test to mean anything.
        let splitEmoji = ["🎉", "👍🏽", "👨‍👩‍👧"].contains { emoji in
            tok.encode(emoji).contains { String(decoding: tok.tokenBytes($0), as: UTF8.self).contains("\u{FFFD}") }
        }
        XCTAssertTrue(splitEmoji, "expected an emoji whose bytes span tokens")

        var decoder = IncrementalDecoder(tokenizer: tok)
        var streamed = ""
        for id in ids {
            let piece = decoder.append(id)
            XCTAssertFalse(piece.contains("\u{FFFD}"), "broken UTF-8 after token \(id)")
            streamed += piece
        }
        streamed += decoder.flush()
        XCTAssertEqual(streamed, tok.decode(ids))
        XCTAssertEqual(streamed, text)
    }

    func testFlushReleasesAnUnfinishedCharacter() throws {
        let tok = try tokenizer()
        let ids = tok.encode("🎉")
        XCTAssertGreaterThan(ids.count, 1)
        var decoder = IncrementalDecoder(tokenizer: tok)
        XCTAssertEqual(decoder.append(ids[0]), "")
        XCTAssertEqual(decoder.flush(), "\u{FFFD}")
        XCTAssertEqual(decoder.flush(), "")
    }

    func testRepeatedEncodingGivesTheSameIds() throws {
        let tok = try tokenizer()
        let text = String(repeating: "The cache must not change results. ", count: 40)
        let first = tok.encode(text)
        XCTAssertEqual(tok.encode(text), first)
        XCTAssertEqual(tok.decode(first), text)
    }
}

/// Construction errors, on small hand-made vocabularies.
final class TokenizerConstructionTests: XCTestCase {
    private func description(model: String = "gpt2", pre: String = "gpt2", tokens: [String] = ["a", "b", "ab"],
                             types: [Int32] = [1, 1, 1], merges: [String] = ["a b"]) -> TokenizerDescription {
        TokenizerDescription(model: model, pre: pre, tokens: tokens, tokenTypes: types, merges: merges,
                             bosTokenID: nil, eosTokenID: nil, addBOSToken: false, chatTemplate: nil)
    }

    func testAnUnknownPreTokenizerIsAClearError() {
        XCTAssertThrowsError(try BPETokenizer(description(pre: "mystery-pre"))) { error in
            guard case TokenizerError.unsupportedPreTokenizer("mystery-pre", _) = error else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertTrue("\(error)".contains("unsupported pre-tokenizer 'mystery-pre'"))
        }
    }

    func testAnotherTokenizerModelIsRefused() {
        XCTAssertThrowsError(try BPETokenizer(description(model: "bert"))) { error in
            XCTAssertEqual(error as? TokenizerError, .unsupportedModel("bert"))
        }
        // SentencePiece ("llama") is implemented, and needs the vocabulary's scores.
        XCTAssertThrowsError(try BPETokenizer(description(model: "llama"))) { error in
            XCTAssertTrue("\(error)".contains("tokenizer.ggml.scores"), "\(error)")
        }
    }

    func testAMergeWithoutTwoSidesIsRefused() {
        XCTAssertThrowsError(try BPETokenizer(description(merges: ["a b", "ab"]))) { error in
            XCTAssertEqual(error as? TokenizerError, .malformedMerge(index: 1, text: "ab"))
        }
    }

    func testTooFewTokenTypesIsRefused() {
        XCTAssertThrowsError(try BPETokenizer(description(types: [1]))) { error in
            XCTAssertEqual(error as? TokenizerError, .tokenTypeCountMismatch(tokens: 3, types: 1))
        }
    }

    func testMergesFollowRankOnATinyVocabulary() throws {
        let tok = try BPETokenizer(description(tokens: ["a", "b", "c", "ab", "bc", "abc"],
                                               types: [1, 1, 1, 1, 1, 1], merges: ["b c", "a b", "a bc"]))
        // "b c" outranks "a b", so "abc" is a + bc, then a + bc → abc.
        XCTAssertEqual(tok.encode("abc"), [5])
        XCTAssertEqual(tok.encode("ab"), [3])
        XCTAssertEqual(tok.encode("cab"), [2, 3])
    }
}
