import Foundation
import PluginAPI
import XCTest

final class MappedFileTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mapped-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    private func file(_ bytes: [UInt8]) throws -> String {
        let url = directory.appendingPathComponent(UUID().uuidString)
        try Data(bytes).write(to: url)
        return url.path
    }

    func testWholeFilesAndRangesOffPageBoundariesReadTheFilesBytes() throws {
        let content = (0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let path = try file(content)
        // `bytes` is valid only while its MappedFile lives.
        let whole = try MappedFile(path: path)
        withExtendedLifetime(whole) { XCTAssertEqual(Array(whole.bytes), content) }
        let region = try MappedFile(path: path, offset: 4_099, length: 9_000)
        withExtendedLifetime(region) { XCTAssertEqual(Array(region.bytes), Array(content[4_099..<13_099])) }
    }

    func testEmptyFilesRangesOutsideTheFileAndDirectoriesAreRefused() throws {
        XCTAssertThrowsError(try MappedFile(path: try file([]))) { XCTAssertEqual($0 as? MappedFile.Failure, .empty) }
        let path = try file([UInt8](repeating: 1, count: 100))
        for (offset, length) in [(90, 11), (-1, 5), (0, 0)] {
            XCTAssertThrowsError(try MappedFile(path: path, offset: offset, length: length)) {
                guard case .io(let reason) = $0 as? MappedFile.Failure else { return XCTFail("\($0)") }
                XCTAssertTrue(reason.contains("lie outside the file (100 bytes"), reason)
            }
        }
        XCTAssertThrowsError(try MappedFile(path: directory.path)) {
            XCTAssertEqual($0 as? MappedFile.Failure, .io("not a regular file"))
        }
        XCTAssertThrowsError(try MappedFile(path: directory.appendingPathComponent("missing").path)) {
            guard case .io = $0 as? MappedFile.Failure else { return XCTFail("\($0)") }
        }
    }
}
