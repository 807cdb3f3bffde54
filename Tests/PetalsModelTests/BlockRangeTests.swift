import PetalsModel
import XCTest

final class BlockRangeTests: XCTestCase {
    func testParsesStartColonEnd() throws {
        XCTAssertEqual(try BlockRange.parse("0:15"), 0..<15)
        XCTAssertEqual(try BlockRange.parse("15:30"), 15..<30)
    }

    func testRejectsMalformedOrEmptyRanges() {
        for bad in ["", "3", "a:b", "5:5", "7:2", "-1:4", "1:2:3"] {
            XCTAssertThrowsError(try BlockRange.parse(bad), bad) { XCTAssertTrue("\($0)".contains("invalid block range")) }
        }
    }

    func testNamesTheBlocksNoRangeCovers() {
        XCTAssertEqual(BlockRange.missing(from: [0..<10, 20..<30], blockCount: 30), [10..<20])
        XCTAssertEqual(BlockRange.missing(from: [5..<30], blockCount: 30), [0..<5])
        XCTAssertEqual(BlockRange.missing(from: [0..<15, 10..<30], blockCount: 30), [])
        XCTAssertEqual(BlockRange.missing(from: [], blockCount: 4), [0..<4])
    }
}
