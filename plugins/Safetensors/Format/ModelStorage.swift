import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bytes [offset, offset + length) of a file mapped read-only for the life of this object.
/// The mapping starts at the page boundary at or before `offset`; `bytes` starts at `offset`.
final class MappedRegion {
    let path: String
    let offset: Int
    let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer
    private let mappedLength: Int

    init(path: String, offset: Int, length: Int) throws {
        self.path = path
        self.offset = offset
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw SafetensorsError.io(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SafetensorsError.io(path: path, reason: String(cString: strerror(errno))) }
        guard offset >= 0, length > 0, offset + length <= Int(info.st_size) else {
            throw SafetensorsError.io(path: path, reason: "bytes [\(offset), \(offset + length)) lie outside the file (\(info.st_size) bytes; changed while opening?)")
        }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset / page * page
        mappedLength = offset + length - start
        guard let base = mmap(nil, mappedLength, PROT_READ, MAP_PRIVATE, fd, off_t(start)), base != MAP_FAILED else {
            throw SafetensorsError.io(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        self.base = base
        bytes = UnsafeRawBufferPointer(start: base + (offset - start), count: length)
    }

    deinit { munmap(base, mappedLength) }
}

/// A buffer the plugin owns: tensors rearranged at load (GPT-2's transposed Conv1D weights,
/// BLOOM's fused QKV rows).
final class OwnedBytes {
    let pointer: UnsafeMutableRawPointer
    let count: Int

    init(count: Int) {
        self.count = count
        pointer = .allocate(byteCount: max(count, 1), alignment: 64)
    }

    deinit { pointer.deallocate() }
}

/// Keeps every mapping and owned buffer of an opened model alive.
final class ModelStorage {
    var regions: [MappedRegion] = []
    var owned: [OwnedBytes] = []
}
