import PetalsTestSupport
import Foundation
import PetalsModel
import XCTest

/// Token ids against llama.cpp's llama_tokenize on the default model (Tests/Fixtures/smollm2/tokenize.json).
final class TokenizerParityTests: XCTestCase {
    struct Case: Decodable {
        let text: String
        let ids: [Int]
        let ids_parse_special_off: [Int]
    }
    struct Fixture: Decodable { let cases: [Case] }

    func testEveryFixtureStringTokenizesLikeLlamaCpp() throws {
        let tokenizer = try TestModel.tokenizer()
        let data = try Data(contentsOf: TestModel.fixtures.appendingPathComponent("tokenize.json"))
        let cases = try JSONDecoder().decode(Fixture.self, from: data).cases
        XCTAssertGreaterThanOrEqual(cases.count, 20)
        var matched = 0
        for c in cases {
            let ours = tokenizer.encode(c.text, parseSpecial: true)
            XCTAssertEqual(ours, c.ids, "parse_special on: \(c.text.debugDescription)")
            XCTAssertEqual(tokenizer.encode(c.text, parseSpecial: false), c.ids_parse_special_off,
                           "parse_special off: \(c.text.debugDescription)")
            if ours == c.ids { matched += 1 }
            // Byte-level BPE is lossless: decoding with specials rendered gives the text back.
            XCTAssertEqual(tokenizer.decode(c.ids, renderSpecial: true), c.text, "round trip of \(c.text.debugDescription)")
        }
        print("tokenizer vs llama.cpp: \(matched)/\(cases.count) strings identical")
    }
}
