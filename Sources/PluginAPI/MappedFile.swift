import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bytes of a file mapped read-only (private) for the life of this object: the whole file, or
/// the bytes [offset, offset + length). Model-format plugins export tensors as pointers into it.
public final class MappedFile: @unchecked Sendable {
    /// Why a file could not be mapped; each plugin reports it as its own error.
    public enum Failure: Error, Equatable {
        /// The file cannot be opened or mapped, is not a regular file, or the range lies outside it.
        case io(String)
        /// The whole file was asked for and it is empty.
        case empty
    }

    public let path: String
    /// The requested bytes (the whole file, or the range).
    public let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer
    private let mappedLength: Int

    /// Maps the whole file.
    public convenience init(path: String) throws(Failure) {
        try self.init(path: path, range: nil)
    }

    /// Maps bytes [offset, offset + length): the mapping starts at the page boundary at or
    /// before `offset`, `bytes` at `offset`.
    public convenience init(path: String, offset: Int, length: Int) throws(Failure) {
        try self.init(path: path, range: (offset, length))
    }

    private init(path: String, range: (offset: Int, length: Int)?) throws(Failure) {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .io(String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .io(String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .io("not a regular file") }
        let size = Int(info.st_size)
        let offset: Int, length: Int
        if let range {
            (offset, length) = range
            guard offset >= 0, length > 0, offset + length <= size else {
                throw .io("bytes [\(offset), \(offset + length)) lie outside the file (\(size) bytes; changed while opening?)")
            }
        } else {
            guard size > 0 else { throw .empty }
            (offset, length) = (0, size)
        }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset / page * page
        mappedLength = offset + length - start
        guard let base = mmap(nil, mappedLength, PROT_READ, MAP_PRIVATE, fd, off_t(start)), base != MAP_FAILED else {
            throw .io("mmap failed: \(String(cString: strerror(errno)))")
        }
        self.base = base
        bytes = UnsafeRawBufferPointer(start: base + (offset - start), count: length)
    }

    deinit { munmap(base, mappedLength) }
}
