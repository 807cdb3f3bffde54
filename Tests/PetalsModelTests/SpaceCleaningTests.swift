@testable import PetalsModel
import XCTest

/// llama.cpp's clean_spaces detokenization (llama-vocab.cpp: three passes over the bytes), which
/// GGUF vocabularies with a byte-level pre-tokenizer ask for.
final class SpaceCleaningTests: XCTestCase {
    private func clean(_ text: String) -> String { String(decoding: SpaceCleaning.clean(Array(text.utf8)), as: UTF8.self) }

    func testPunctuationLosesTheSpaceBeforeIt() {
        XCTAssertEqual(clean("Hello , world . Really ? Yes !"), "Hello, world. Really? Yes!")
        XCTAssertEqual(clean("a  ."), "a .", "one space goes, not every space")
        XCTAssertEqual(clean(" ."), ".", "from the second byte on")
        XCTAssertEqual(clean("x"), "x")
        XCTAssertEqual(clean(""), "")
    }

    func testALoneApostropheBetweenSpacesLosesBoth() {
        XCTAssertEqual(clean("it ' s"), "it's")
        XCTAssertEqual(clean("rock ' n ' roll"), "rock'n'roll")
    }

    func testOnlySomeContractionsJoinTheirWord() {
        XCTAssertEqual(clean("I 'm sure they 're here , we 've seen it 's"), "I'm sure they're here, we've seen it's")
        // llama.cpp keeps the space before 't, 'd and 'll (transformers' clean-up would not).
        XCTAssertEqual(clean("don 't , he 'd , I 'll"), "don 't, he 'd, I 'll")
        XCTAssertEqual(clean("the '"), "the '", "an apostrophe at the end stays as it is")
    }

    func testBytesOutsideASCIIPassThrough() {
        XCTAssertEqual(clean("café , naïve ."), "café, naïve.")
    }
}
