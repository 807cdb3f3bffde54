import Foundation
import PluginAPI
import XCTest

final class ModelDescriptionTests: XCTestCase {
    private let tokenizer = TokenizerDescription(model: "gpt2", pre: "gpt2", tokens: ["a", "b"], tokenTypes: [1, 1],
                                                 merges: ["a b"], bosTokenID: nil, eosTokenID: 1, addBOSToken: false,
                                                 chatTemplate: nil)

    private func description(activation: String?, cleanSpaces: Bool?) -> ModelDescription {
        var t = tokenizer
        t.cleanSpaces = cleanSpaces
        return ModelDescription(architecture: "gpt2", name: "tiny", blockCount: 2, blockStart: 0, blockEnd: 2,
                                contextLength: 16, embeddingLength: 8, feedForwardLength: 32, headCount: 2,
                                headCountKV: 2, ropeFreqBase: 0, ropeDimensionCount: 0, ropeStyle: "none",
                                normEpsilon: 1e-5, vocabSize: 2, tiedEmbeddings: true, activation: activation,
                                tokenizer: t)
    }

    func testDescriptionsWithoutTheOptionalKeysDecodeAsBefore() throws {
        // JSON as a plugin built before "activation" and "clean_spaces" existed writes it.
        let old = try JSONEncoder().encode(description(activation: nil, cleanSpaces: nil))
        let text = String(decoding: old, as: UTF8.self)
        XCTAssertFalse(text.contains("activation") || text.contains("clean_spaces"), text)
        let decoded = try JSONDecoder().decode(ModelDescription.self, from: old)
        XCTAssertNil(decoded.activation)
        XCTAssertNil(decoded.tokenizer.cleanSpaces)
    }

    func testTheOptionalKeysRoundTrip() throws {
        let original = description(activation: "gelu", cleanSpaces: false)
        let json = try JSONEncoder().encode(original)
        XCTAssertTrue(String(decoding: json, as: UTF8.self).contains("\"clean_spaces\":false"))
        XCTAssertEqual(try JSONDecoder().decode(ModelDescription.self, from: json), original)
    }
}
