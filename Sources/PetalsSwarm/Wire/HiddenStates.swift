import CKernels

/// How activations travel: f32 exactly, or f16 at half the bytes (rounded to nearest even).
public enum WireDType: UInt8, Sendable, CaseIterable {
    case f32 = 0
    case f16 = 1

    var bytesPerValue: Int { self == .f32 ? 4 : 2 }

    public init?(name: String) {
        switch name.lowercased() {
        case "f32": self = .f32
        case "f16": self = .f16
        default: return nil
        }
    }
}

/// A batch of hidden states (little-endian on the wire, as on every supported CPU): `rows` tokens × `cols` values, row-major.
public struct HiddenStates: Equatable, Sendable {
    public var rows: Int
    public var cols: Int
    public var values: [Float]

    public init(rows: Int, cols: Int, values: [Float]) {
        precondition(values.count == rows * cols, "hidden states shape mismatch")
        self.rows = rows
        self.cols = cols
        self.values = values
    }

    /// Encoded as dtype u8, rows u32, cols u32, then the values.
    func encode(into writer: inout ByteWriter, as dtype: WireDType) {
        writer.u8(dtype.rawValue)
        writer.u32(UInt32(rows))
        writer.u32(UInt32(cols))
        switch dtype {
        case .f32:
            values.withUnsafeBytes { writer.raw($0) }
        case .f16:
            var halves = [UInt16](repeating: 0, count: values.count)
            values.withUnsafeBufferPointer { src in
                halves.withUnsafeMutableBufferPointer { ck_fp32_to_fp16_row(src.baseAddress, $0.baseAddress, Int64(values.count)) }
            }
            halves.withUnsafeBytes { writer.raw($0) }
        }
    }

    /// Decodes and checks the payload length against the declared shape (never trusts it).
    static func decode(from reader: inout ByteReader) throws -> (HiddenStates, WireDType) {
        guard let dtype = WireDType(rawValue: try reader.u8()) else {
            throw WireError.malformed("unknown activation dtype")
        }
        let rows = Int(try reader.u32()), cols = Int(try reader.u32())
        let (count, overflow) = rows.multipliedReportingOverflow(by: cols)
        guard !overflow, count.multipliedReportingOverflow(by: dtype.bytesPerValue).overflow == false,
              count * dtype.bytesPerValue == reader.remaining else {
            throw WireError.malformed("activations declared \(rows)×\(cols) \(dtype) but carry \(reader.remaining) bytes")
        }
        let bytes = try reader.raw(count * dtype.bytesPerValue)
        var values = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            values.withUnsafeMutableBufferPointer { out in
                switch dtype {
                case .f32:
                    _ = raw.copyBytes(to: out)
                case .f16:
                    // Copy first: the payload need not be 2-byte aligned inside the frame.
                    var halves = [UInt16](repeating: 0, count: count)
                    halves.withUnsafeMutableBytes { $0.copyMemory(from: raw) }
                    halves.withUnsafeBufferPointer { ck_fp16_to_fp32_row($0.baseAddress, out.baseAddress, Int64(count)) }
                }
            }
        }
        return (HiddenStates(rows: rows, cols: cols, values: values), dtype)
    }
}
