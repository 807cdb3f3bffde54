/// A 20-byte Ethereum address; `description` is its EIP-55 checksummed form.
public struct Address: Hashable, Sendable, CustomStringConvertible, Codable {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws {
        guard bytes.count == 20 else { throw ChainError.invalidAddress("an address has 20 bytes, got \(bytes.count)") }
        self.bytes = bytes
    }

    /// Parses "0x…" (40 hex digits). Mixed-case input must carry a valid EIP-55 checksum.
    public init(_ text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = Hex.decode(trimmed), bytes.count == 20, trimmed.hasPrefix("0x") || trimmed.count == 40 else {
            throw ChainError.invalidAddress("'\(text)' is not 0x followed by 40 hex digits")
        }
        try self.init(bytes: bytes)
        let digits = trimmed.hasPrefix("0x") ? String(trimmed.dropFirst(2)) : trimmed
        let mixed = digits != digits.lowercased() && digits != digits.uppercased()
        if mixed && "0x" + digits != description {
            throw ChainError.invalidAddress("'\(text)' has a wrong EIP-55 checksum (expected \(description))")
        }
    }

    /// The address of a 64-byte uncompressed public key: the last 20 bytes of its keccak256.
    public init(publicKey: [UInt8]) {
        bytes = Array(Keccak.hash256(publicKey).suffix(20))
    }

    /// Precompiles and system contracts: 0x00…0n.
    public static func system(_ n: UInt16) -> Address {
        var b = [UInt8](repeating: 0, count: 20)
        b[18] = UInt8(n >> 8)
        b[19] = UInt8(n & 0xff)
        return try! Address(bytes: b) // 20 bytes by construction
    }

    /// Lowercase "0x…".
    public var lowercased: String { Hex.encode(bytes) }

    /// EIP-55: a hex digit is uppercase when the matching nibble of keccak(lowercase hex) is ≥ 8.
    public var description: String {
        let lower = Array(lowercased.dropFirst(2))
        let hash = Keccak.hash256(String(lower))
        var out = "0x"
        for (i, c) in lower.enumerated() {
            let nibble = i % 2 == 0 ? hash[i / 2] >> 4 : hash[i / 2] & 0x0f
            out.append(nibble >= 8 ? Character(c.uppercased()) : c)
        }
        return out
    }

    public init(from decoder: Decoder) throws { try self.init(try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

import Foundation
