import Foundation

/// The agent's secp256k1 private key as 64 lowercase hex digits. Its `description`,
/// `debugDescription` and mirror never show the key, so it can sit in structs that get logged
/// or dumped; read it deliberately through `hex` or `bytes`.
public struct PrivateKey: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// 64 lowercase hex digits, no 0x prefix.
    public let hex: String

    /// Parses 32 bytes of hex, with or without a 0x prefix; nil when malformed.
    public init?(hex text: String) {
        var digits = text.trimmingCharacters(in: .whitespaces)
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits.removeFirst(2) }
        guard digits.count == 64, digits.allSatisfy(\.isHexDigit) else { return nil }
        hex = digits.lowercased()
    }

    /// The 32 key bytes.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            out.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return out
    }

    public var description: String { "PrivateKey(<redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["hex": "<redacted>"]) }
}
