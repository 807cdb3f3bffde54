import CKernels
import Foundation
import XCTest

final class WeightMemoryTests: XCTestCase {
    func testBlocksAreAlignedDisjointAndKeepTheirBytesUntilFreed() throws {
        // Sizes from a few bytes to more than a whole 64 MB region, so blocks share regions and
        // one gets a region of its own.
        let sizes = [1, 63, 64, 4096, 3 << 20, 70 << 20, 100, 1 << 20]
        var blocks: [(UnsafeMutableRawPointer, Int)] = []
        for (i, size) in sizes.enumerated() {
            let p = try XCTUnwrap(ck_weights_alloc(size))
            XCTAssertEqual(Int(bitPattern: p) % 64, 0)
            memset(p, Int32(i + 1), size)
            blocks.append((p, size))
        }
        for (i, (p, size)) in blocks.enumerated() {
            let bytes = p.assumingMemoryBound(to: UInt8.self)
            XCTAssertEqual(bytes[0], UInt8(i + 1))
            XCTAssertEqual(bytes[size - 1], UInt8(i + 1), "block \(i) was overwritten by another")
        }
        for (p, size) in blocks { ck_weights_free(p, size) }
        // After every block of the current region is freed it is reused from its start.
        let again = try XCTUnwrap(ck_weights_alloc(128))
        ck_weights_free(again, 128)
        XCTAssertNil(ck_weights_alloc(0))
    }

    func testReleasingAReadOnlyFileMappingKeepsItsContentsReadable() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("weights-\(UUID().uuidString).bin")
        defer { try? FileManager.default.removeItem(at: url) }
        let size = 1 << 20
        let pattern = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try Data(pattern).write(to: url)

        let fd = open(url.path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let mapped = try XCTUnwrap(mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0))
        XCTAssertNotEqual(mapped, MAP_FAILED)
        defer { munmap(mapped, size) }

        let copy = try XCTUnwrap(ck_weights_copy(mapped, size))
        defer { ck_weights_free(copy, size) }
        ck_release_mapped_pages(mapped, size)
        // Both the copy and the (refaulted) mapping still hold the file's bytes.
        XCTAssertEqual(memcmp(copy, pattern, size), 0)
        XCTAssertEqual(memcmp(mapped, pattern, size), 0)

        // Heap memory is never touched.
        let heap = UnsafeMutableRawPointer.allocate(byteCount: 1 << 16, alignment: 4096)
        defer { heap.deallocate() }
        memset(heap, 0x5a, 1 << 16)
        ck_release_mapped_pages(heap, 1 << 16)
        XCTAssertEqual(heap.load(fromByteOffset: 12345, as: UInt8.self), 0x5a)
    }
}
