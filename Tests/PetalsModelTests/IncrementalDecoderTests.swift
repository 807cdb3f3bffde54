@testable import PetalsModel
import XCTest

final class IncrementalDecoderTests: XCTestCase {
    func testHoldsBackOnlyAnUnfinishedCharacter() {
        let smile = Array("😀".utf8)  // F0 9F 98 80
        XCTAssertEqual(IncrementalDecoder.completePrefixLength(Array("ab".utf8)), 2)
        XCTAssertEqual(IncrementalDecoder.completePrefixLength(Array("a".utf8) + smile.prefix(1)), 1)
        XCTAssertEqual(IncrementalDecoder.completePrefixLength(Array("a".utf8) + smile.prefix(3)), 1)
        XCTAssertEqual(IncrementalDecoder.completePrefixLength(Array("a".utf8) + smile), 5)
    }

    func testReleasesBytesThatCanNeverBecomeValid() {
        XCTAssertEqual(IncrementalDecoder.completePrefixLength([0x61, 0xFF]), 2)
        XCTAssertEqual(IncrementalDecoder.completePrefixLength([0x61, 0xE0, 0x80]), 3)  // overlong
        XCTAssertEqual(IncrementalDecoder.completePrefixLength([0x61, 0x80]), 2)  // stray continuation
    }
}
