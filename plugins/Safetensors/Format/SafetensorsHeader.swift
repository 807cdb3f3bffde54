import Foundation
import PluginAPI

/// One tensor as a safetensors header lists it.
struct SafetensorsEntry: Equatable {
    let name: String
    /// "F32", "F16", "BF16", ... as written in the file.
    let dtype: String
    /// PyTorch order: the last dimension is contiguous.
    let shape: [Int]
    /// Byte range in the file (absolute: the header is already counted).
    let range: Range<Int>

    /// The host's element type for the dtypes the kernels read, nil for the others.
    var tensorType: TensorType? {
        switch dtype {
        case "F32": return .f32
        case "F16": return .f16
        case "BF16": return .bf16
        default: return nil
        }
    }
}

/// The header of one .safetensors file: an 8-byte little-endian length, then that many bytes
/// of JSON mapping each tensor name to {dtype, shape, data_offsets} (offsets relative to the end
/// of the header), plus an optional "__metadata__" object of strings.
///
/// Every entry is checked against the file before anything is mapped: offsets inside the data,
/// byte counts equal to shape x element size, no overlaps. Only the header bytes are read.
struct SafetensorsHeader {
    /// The format's own limit on the JSON header (100 MB).
    static let maximumHeaderBytes = 100_000_000

    let path: String
    let fileSize: Int
    let entries: [String: SafetensorsEntry]
    let metadata: [String: String]

    init(path: String) throws {
        self.path = path
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw SafetensorsError.io(path: path, reason: "cannot open the file")
        }
        defer { try? handle.close() }
        let size: UInt64
        do {
            size = try handle.seekToEnd()
            try handle.seek(toOffset: 0)
        } catch {
            throw SafetensorsError.io(path: path, reason: "\(error)")
        }
        fileSize = Int(size)
        guard fileSize >= 8, let prefix = try? handle.read(upToCount: 8), prefix.count == 8 else {
            throw SafetensorsError.badHeader(path: path, reason: "the file is \(size) bytes long, too short for the 8-byte header length")
        }
        let declared = prefix.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard declared <= UInt64(fileSize - 8) else {
            throw SafetensorsError.badHeader(path: path, reason: "the header length \(declared) runs past the end of the file (\(fileSize) bytes)")
        }
        guard declared >= 2, declared <= UInt64(Self.maximumHeaderBytes) else {
            throw SafetensorsError.badHeader(path: path, reason: "the header length \(declared) is outside 2...\(Self.maximumHeaderBytes)")
        }
        let headerLength = Int(declared)
        guard let json = try? handle.read(upToCount: headerLength), json.count == headerLength else {
            throw SafetensorsError.io(path: path, reason: "short read of the \(headerLength)-byte header")
        }
        let dataStart = 8 + headerLength
        let parsed = try Self.parse(json: json, path: path, dataStart: dataStart, dataSize: fileSize - dataStart)
        entries = parsed.entries
        metadata = parsed.metadata
    }

    /// Bytes per element of every dtype the format defines (nil: unknown dtype).
    static func elementSize(_ dtype: String) -> Int? {
        switch dtype {
        case "F64", "I64", "U64": return 8
        case "F32", "I32", "U32": return 4
        case "F16", "BF16", "I16", "U16": return 2
        case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2": return 1
        default: return nil
        }
    }

    private static func parse(json: Data, path: String, dataStart: Int, dataSize: Int) throws
        -> (entries: [String: SafetensorsEntry], metadata: [String: String]) {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: json)
        } catch {
            throw SafetensorsError.badHeader(path: path, reason: "the header is not valid JSON (\(error.localizedDescription))")
        }
        guard let object = root as? [String: Any] else {
            throw SafetensorsError.badHeader(path: path, reason: "the header is not a JSON object")
        }
        var entries: [String: SafetensorsEntry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                guard let strings = value as? [String: String] else {
                    throw SafetensorsError.badHeader(path: path, reason: "__metadata__ must map strings to strings")
                }
                metadata = strings
                continue
            }
            entries[name] = try entry(name: name, value: value, path: path, dataStart: dataStart, dataSize: dataSize)
        }
        // Tensors may not share bytes.
        let sorted = entries.values.sorted { $0.range.lowerBound < $1.range.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.range.upperBound > b.range.lowerBound {
            throw SafetensorsError.badHeader(path: path, reason: "tensors \(a.name) and \(b.name) overlap")
        }
        return (entries, metadata)
    }

    private static func entry(name: String, value: Any, path: String, dataStart: Int, dataSize: Int) throws -> SafetensorsEntry {
        func fail(_ reason: String) -> SafetensorsError { .badHeader(path: path, reason: "tensor \(name): \(reason)") }
        guard let fields = value as? [String: Any] else { throw fail("its entry is not an object") }
        guard let dtype = fields["dtype"] as? String else { throw fail("no dtype") }
        guard let shape = integers(fields["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
            throw fail("shape must be a list of non-negative integers")
        }
        guard let offsets = integers(fields["data_offsets"]), offsets.count == 2 else {
            throw fail("data_offsets must be two integers")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin >= 0, begin <= end, end <= dataSize else {
            throw fail("data_offsets [\(begin), \(end)] lie outside the \(dataSize) bytes of tensor data")
        }
        if let size = elementSize(dtype) {
            var elements = 1
            for d in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow else { throw fail("shape \(shape) is too large") }
                elements = product
            }
            let (bytes, overflow) = elements.multipliedReportingOverflow(by: size)
            guard !overflow, bytes == end - begin else {
                throw fail("shape \(shape) of \(dtype) needs \(elements) x \(size) bytes, but data_offsets give \(end - begin)")
            }
        }
        return SafetensorsEntry(name: name, dtype: dtype, shape: shape, range: (dataStart + begin)..<(dataStart + end))
    }

    /// A JSON array of integers (JSONSerialization gives NSNumbers), nil for anything else.
    private static func integers(_ value: Any?) -> [Int]? {
        guard let numbers = value as? [NSNumber] else { return nil }
        var result: [Int] = []
        for number in numbers {
            let integer = number.int64Value
            guard Double(integer) == number.doubleValue, let exact = Int(exactly: integer) else { return nil }
            result.append(exact)
        }
        return result
    }
}
