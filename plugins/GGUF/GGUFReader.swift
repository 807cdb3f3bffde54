import PluginAPI

/// One tensor as the GGUF header describes it.
struct GGUFTensorInfo: Equatable {
    let name: String
    /// ggml order: dims[0] is the row length.
    let dims: [Int]
    let typeID: UInt32
    /// Offset from the start of the data section.
    let offset: Int
}

/// The parsed header of a GGUF v2/v3 file: metadata, tensor infos and where the data starts.
/// Parsing is bounds-checked everywhere: every count is weighed against the bytes left before
/// anything is allocated, so a hostile file fails with an error and never crashes.
struct GGUFHeader {
    static let magic: UInt32 = 0x4655_4747 // "GGUF" little-endian
    let version: UInt32
    let metadata: [String: GGUFValue]
    let tensors: [GGUFTensorInfo]
    let alignment: Int
    let dataOffset: Int

    init(bytes: UnsafeRawBufferPointer, path: String) throws {
        var cursor = Cursor(bytes: bytes, path: path)
        guard try cursor.u32() == Self.magic else {
            throw GGUFError.malformed(path: path, reason: "bad magic (expected 'GGUF')")
        }
        version = try cursor.u32()
        guard version == 2 || version == 3 else {
            throw GGUFError.unsupported(path: path, reason: "GGUF version \(version) (supported: 2, 3)")
        }
        let tensorCount = try cursor.count(minimumBytesEach: 24, what: "tensor count")
        let kvCount = try cursor.count(minimumBytesEach: 13, what: "metadata count")

        var metadata: [String: GGUFValue] = [:]
        metadata.reserveCapacity(kvCount)
        for _ in 0..<kvCount {
            let key = try cursor.string()
            let type = try cursor.u32()
            metadata[key] = try cursor.value(type: type, depth: 0)
        }
        self.metadata = metadata

        let alignment = metadata["general.alignment"]?.int ?? 32
        guard alignment > 0, alignment.nonzeroBitCount == 1, alignment <= 1 << 20 else {
            throw GGUFError.malformed(path: path, reason: "general.alignment \(alignment) is not a power of two")
        }
        self.alignment = alignment

        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(tensorCount)
        for _ in 0..<tensorCount {
            let name = try cursor.string()
            let nDims = Int(try cursor.u32())
            guard (1...4).contains(nDims) else {
                throw GGUFError.malformed(path: path, reason: "tensor \(name) has \(nDims) dimensions (1 to 4 allowed)")
            }
            var dims: [Int] = []
            for _ in 0..<nDims {
                let d = try cursor.u64()
                guard d > 0, d <= UInt64(Int32.max) else {
                    throw GGUFError.malformed(path: path, reason: "tensor \(name) has dimension \(d)")
                }
                dims.append(Int(d))
            }
            let typeID = try cursor.u32()
            let offset = try cursor.u64()
            guard offset <= UInt64(bytes.count) else {
                throw GGUFError.malformed(path: path, reason: "tensor \(name) starts past the end of the file")
            }
            guard offset % UInt64(alignment) == 0 else {
                throw GGUFError.malformed(path: path, reason: "tensor \(name) is not aligned to \(alignment) bytes")
            }
            tensors.append(GGUFTensorInfo(name: name, dims: dims, typeID: typeID, offset: Int(offset)))
        }
        self.tensors = tensors
        let aligned = (cursor.position + alignment - 1) / alignment * alignment
        guard aligned <= bytes.count else {
            throw GGUFError.malformed(path: path, reason: "the file ends before its tensor data")
        }
        dataOffset = aligned
    }
}

/// A bounds-checked little-endian reader over the mapped bytes.
private struct Cursor {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var position = 0

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    var remaining: Int { bytes.count - position }

    private func truncated(_ what: String) -> GGUFError {
        .malformed(path: path, reason: "truncated while reading \(what) at byte \(position)")
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw truncated(what) }
        let value = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
        position += size
        return T(littleEndian: value)
    }

    mutating func u32() throws -> UInt32 { try load(UInt32.self, "a 32-bit integer") }
    mutating func u64() throws -> UInt64 { try load(UInt64.self, "a 64-bit integer") }

    /// A u64 count whose elements each need at least `minimumBytesEach` bytes of what is left.
    mutating func count(minimumBytesEach: Int, what: String) throws -> Int {
        let n = try u64()
        guard n <= UInt64(remaining / max(minimumBytesEach, 1)) else {
            throw GGUFError.malformed(path: path, reason: "\(what) \(n) is impossible for a file of \(bytes.count) bytes")
        }
        return Int(n)
    }

    mutating func string() throws -> String {
        let length = try u64()
        guard length <= UInt64(remaining) else { throw truncated("a string of \(length) bytes") }
        let start = bytes.baseAddress! + position
        position += Int(length)
        return String(decoding: UnsafeRawBufferPointer(start: start, count: Int(length)), as: UTF8.self)
    }

    /// Bytes one element of a scalar value type takes, nil for strings and arrays.
    static func scalarSize(_ type: UInt32) -> Int? {
        switch type {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 10, 11, 12: return 8
        default: return nil
        }
    }

    mutating func value(type: UInt32, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint(UInt64(try load(UInt8.self, "a u8")))
        case 1: return .int(Int64(try load(Int8.self, "an i8")))
        case 2: return .uint(UInt64(try load(UInt16.self, "a u16")))
        case 3: return .int(Int64(try load(Int16.self, "an i16")))
        case 4: return .uint(UInt64(try u32()))
        case 5: return .int(Int64(try load(Int32.self, "an i32")))
        case 6: return .float(Double(Float(bitPattern: try u32())))
        case 7:
            let b = try load(UInt8.self, "a bool")
            guard b <= 1 else { throw GGUFError.malformed(path: path, reason: "bool value \(b) at byte \(position - 1)") }
            return .bool(b == 1)
        case 8: return .string(try string())
        case 9: return try array(depth: depth)
        case 10: return .uint(try u64())
        case 11: return .int(try load(Int64.self, "an i64"))
        case 12: return .float(Double(bitPattern: try u64()))
        default:
            throw GGUFError.malformed(path: path, reason: "unknown metadata value type \(type) at byte \(position - 4)")
        }
    }

    mutating func array(depth: Int) throws -> GGUFValue {
        guard depth < 4 else { throw GGUFError.malformed(path: path, reason: "metadata arrays nested too deeply") }
        let elementType = try u32()
        let minimumSize = Self.scalarSize(elementType) ?? (elementType == 8 ? 8 : 12)
        let n = try count(minimumBytesEach: minimumSize, what: "array length")
        switch elementType {
        case 8:
            var items: [String] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(try string()) }
            return .strings(items)
        case 0, 1, 2, 3, 4, 5, 10, 11:
            var items: [Int64] = []
            items.reserveCapacity(n)
            for _ in 0..<n {
                switch try value(type: elementType, depth: depth + 1) {
                case .int(let v): items.append(v)
                case .uint(let v): items.append(Int64(truncatingIfNeeded: v))
                default: break
                }
            }
            return .ints(items)
        case 6:
            var items: [Float] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(Float(bitPattern: try u32())) }
            return .floats(items)
        default:
            var items: [GGUFValue] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(try value(type: elementType, depth: depth + 1)) }
            return .array(items)
        }
    }
}
