import BigInt

/// Recursive Length Prefix, Ethereum's serialisation of transactions.
public indirect enum RLP: Equatable, Sendable {
    case bytes([UInt8])
    case list([RLP])

    /// A big-endian integer with no leading zeros (zero is the empty string).
    public static func uint(_ value: BigUInt) -> RLP { .bytes(Array(value.serialize())) }

    public func encoded() -> [UInt8] {
        switch self {
        case .bytes(let b):
            if b.count == 1 && b[0] < 0x80 { return b }
            return Self.header(b.count, short: 0x80) + b
        case .list(let items):
            let body = items.flatMap { $0.encoded() }
            return Self.header(body.count, short: 0xc0) + body
        }
    }

    private static func header(_ length: Int, short: UInt8) -> [UInt8] {
        if length < 56 { return [short + UInt8(length)] }
        let size = Array(BigUInt(length).serialize())
        return [short + 55 + UInt8(size.count)] + size
    }

    /// Decodes exactly one item spanning all of `data` (canonical encodings only).
    public static func decode(_ data: [UInt8]) throws -> RLP {
        var offset = 0
        let item = try decodeItem(data, &offset, end: data.count)
        guard offset == data.count else { throw ChainError.malformedRLP("\(data.count - offset) trailing bytes") }
        return item
    }

    private static func decodeItem(_ d: [UInt8], _ offset: inout Int, end: Int) throws -> RLP {
        guard offset < end else { throw ChainError.malformedRLP("input ends where an item should start") }
        let prefix = d[offset]
        offset += 1
        switch prefix {
        case 0x00...0x7f:
            return .bytes([prefix])
        case 0x80...0xbf:
            let length = try payloadLength(d, &offset, end: end, prefix: prefix, short: 0x80)
            let bytes = Array(d[offset..<offset + length])
            if length == 1 && bytes[0] < 0x80 { throw ChainError.malformedRLP("single byte below 0x80 must not be prefixed") }
            offset += length
            return .bytes(bytes)
        default:
            let length = try payloadLength(d, &offset, end: end, prefix: prefix, short: 0xc0)
            let listEnd = offset + length
            var items: [RLP] = []
            while offset < listEnd { items.append(try decodeItem(d, &offset, end: listEnd)) }
            return .list(items)
        }
    }

    private static func payloadLength(_ d: [UInt8], _ offset: inout Int, end: Int, prefix: UInt8, short: UInt8) throws -> Int {
        var length: Int
        if prefix < short + 56 {
            length = Int(prefix - short)
        } else {
            let sizeBytes = Int(prefix - short - 55)
            guard sizeBytes <= 8, offset + sizeBytes <= end else { throw ChainError.malformedRLP("length field runs past the end") }
            guard d[offset] != 0 else { throw ChainError.malformedRLP("length has leading zeros") }
            length = 0
            for i in 0..<sizeBytes {
                guard length < Int.max >> 8 else { throw ChainError.malformedRLP("length overflows") }
                length = length << 8 | Int(d[offset + i])
            }
            offset += sizeBytes
            guard length >= 56 else { throw ChainError.malformedRLP("long form used for a short length") }
        }
        guard length <= end - offset else { throw ChainError.malformedRLP("item of \(length) bytes runs past the end") }
        return length
    }

    /// The bytes of a string item, or an error naming `field`.
    public func bytes(_ field: String) throws -> [UInt8] {
        guard case .bytes(let b) = self else { throw ChainError.malformedTransaction("\(field) is a list, not a string") }
        return b
    }

    /// A canonical unsigned integer, or an error naming `field`.
    public func uint(_ field: String) throws -> BigUInt {
        let b = try bytes(field)
        guard b.first != 0 else { throw ChainError.malformedTransaction("\(field) has leading zeros") }
        return BigUInt(Data(b))
    }
}

import Foundation
