@testable import PetalsModel
import XCTest

/// The hand-written pre-tokenizer rules, checked against what llama.cpp's splitters produce.
final class PreTokenizerTests: XCTestCase {
    private func words(_ pre: String, _ text: String) throws -> [String] {
        let scalars = text.unicodeScalars.map(\.value)
        return try PreTokenizer(name: pre).split(scalars).map { range in
            String(String.UnicodeScalarView(scalars[range].map { Unicode.Scalar($0)! }))
        }
    }

    func testGPT2LeavesTheLastSpaceOfARunToTheNextWord() throws {
        XCTAssertEqual(try words("gpt2", "Hello  world\n\n x's 12"),
                       ["Hello", " ", " world", "\n\n", " x", "'s", " 12"])
    }

    func testGPT2KeepsATrailingWhitespaceRunWhole() throws {
        XCTAssertEqual(try words("gpt2", "end.   "), ["end", ".", "   "])
        XCTAssertEqual(try words("gpt2", "a \t b"), ["a", " \t", " b"])
    }

    func testGPT2ContractionsAreCaseSensitive() throws {
        XCTAssertEqual(try words("gpt2", "I'M it's"), ["I", "'", "M", " it", "'s"])
    }

    func testSmolLMSplitsEveryDigitBeforeTheGPT2Rules() throws {
        XCTAssertEqual(try words("smollm", "x's 12"), ["x", "'s", " ", "1", "2"])
        XCTAssertEqual(try words("smollm", "v2.10 ½"), ["v", "2", ".", "1", "0", " ", "½"])
    }

    func testSmolLMRulesDoNotLookAcrossADigit() throws {
        // Within "a  " the run of two spaces ends the piece, so it is not split before the digit.
        XCTAssertEqual(try words("smollm", "a  1"), ["a", "  ", "1"])
    }

    func testLlama3GroupsDigitsByThreeAndKeepsNewlineRuns() throws {
        XCTAssertEqual(try words("llama3", "Hello  world\n\n x's 1234"),
                       ["Hello", " ", " world", "\n\n", " x", "'s", " ", "123", "4"])
        XCTAssertEqual(try words("llama3", "Hi!\n\n(ok) I'M"), ["Hi", "!\n\n", "(ok", ")", " I", "'M"])
    }

    /// Qwen2's regex is Llama 3's with `\p{N}` for `\p{N}{1,3}`: one digit per word
    /// (llama.cpp LLAMA_VOCAB_PRE_TYPE_QWEN2).
    func testQwen2SplitsEveryDigitAndOtherwiseFollowsLlama3() throws {
        XCTAssertEqual(try words("qwen2", "Year 2026, I'M\n\n  ok"),
                       ["Year", " ", "2", "0", "2", "6", ",", " I", "'M", "\n\n", " ", " ok"])
        XCTAssertEqual(try words("llama3", "Year 2026, I'M\n\n  ok"),
                       ["Year", " ", "202", "6", ",", " I", "'M", "\n\n", " ", " ok"])
    }

    func testBloomSplitsAtPunctuationAndKeepsGapsWhole() throws {
        XCTAssertEqual(try words("bloom", "Hello, world. Hi  there"),
                       ["Hello", ",", " world", ".", " Hi", " ", " there"])
    }

    func testNonASCIIWhitespaceAndLettersFollowUnicodeClasses() throws {
        XCTAssertEqual(try words("gpt2", "naïve\u{00A0}café\u{3000}日本"),
                       ["naïve", "\u{00A0}", "café", "\u{3000}", "日本"])
    }

    /// tekken as llama.cpp runs it: letter runs cut where ASCII case changes (a letter outside
    /// ASCII counts as both cases), one digit per word, no contractions, `/` after punctuation.
    func testTekkenCutsLetterRunsWhereCaseChanges() throws {
        XCTAssertEqual(try words("tekken", "HelloWorld helloWORLD HTTPServer"),
                       ["Hello", "World", " hello", "WORLD", " HTTPServer"])
        XCTAssertEqual(try words("tekken", "don't x12 a.//b éÉ"), ["don", "'t", " x", "1", "2", " a", ".//", "b", " éÉ"])
    }

    func testAnUnknownPreTokenizerNamesItselfAndTheSupportedOnes() {
        XCTAssertThrowsError(try PreTokenizer(name: "chatglm-bpe")) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("'chatglm-bpe'"), message)
            XCTAssertTrue(message.contains("smollm"), message)
        }
    }
}
