/// A 65-byte Ethereum signature: r ‖ s ‖ v with v = 27 or 28 (personal_sign style).
public struct Signature: Equatable, Sendable {
    public let r: [UInt8]
    public let s: [UInt8]
    public let recoveryID: Int

    public var v: Int { 27 + recoveryID }
    public var bytes: [UInt8] { r + s + [UInt8(v)] }
    public var hex: String { Hex.encode(bytes) }

    public init(r: [UInt8], s: [UInt8], recoveryID: Int) {
        self.r = r
        self.s = s
        self.recoveryID = recoveryID
    }

    /// Parses 65 bytes; v may be 27/28 or 0/1.
    public init(bytes: [UInt8]) throws {
        guard bytes.count == 65 else { throw ChainError.invalidSignature("a signature has 65 bytes, got \(bytes.count)") }
        let v = Int(bytes[64])
        guard [0, 1, 27, 28].contains(v) else { throw ChainError.invalidSignature("v must be 27 or 28, got \(v)") }
        self.init(r: Array(bytes[0..<32]), s: Array(bytes[32..<64]), recoveryID: v >= 27 ? v - 27 : v)
    }

    public init(hex: String) throws {
        guard let bytes = Hex.decode(hex) else { throw ChainError.invalidSignature("not hex") }
        try self.init(bytes: bytes)
    }

    /// The address whose key produced this signature over `hash`.
    public func signer(of hash: [UInt8]) throws -> Address {
        Address(publicKey: try Secp256k1.recover(hash: hash, rs: r + s, recoveryID: recoveryID))
    }
}

/// The node's key: signs hashes, personal messages and transactions. The key itself is never
/// printed: `description` shows only the address.
public struct Wallet: Sendable, CustomStringConvertible {
    private let secret: [UInt8]
    public let address: Address

    /// From "0x…" or bare hex (64 digits; surrounding whitespace ignored).
    public init(privateKey text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw ChainError.invalidPrivateKey("it is empty") }
        guard let bytes = Hex.decode(trimmed) else { throw ChainError.invalidPrivateKey("it is not hexadecimal") }
        guard bytes.count == 32 else {
            throw ChainError.invalidPrivateKey("it has \(bytes.count) bytes; a secp256k1 key has 32 (64 hex digits)")
        }
        guard Secp256k1.isValidSecret(bytes) else {
            throw ChainError.invalidPrivateKey("it is zero or not below the secp256k1 group order")
        }
        secret = bytes
        address = Address(publicKey: try Secp256k1.publicKey(secret: bytes))
    }

    public var description: String { "Wallet(\(address))" }

    /// Signs a 32-byte hash.
    public func sign(hash: [UInt8]) throws -> Signature {
        let (rs, id) = try Secp256k1.sign(hash: hash, secret: secret)
        return Signature(r: Array(rs[0..<32]), s: Array(rs[32..<64]), recoveryID: id)
    }

    /// EIP-191 personal_sign of `message` (what eth_account's sign_message(encode_defunct(text=…)) gives).
    public func personalSign(_ message: String) throws -> Signature {
        try sign(hash: PersonalMessage.hash(message))
    }
}

/// EIP-191 version 0x45 ("Ethereum Signed Message").
public enum PersonalMessage {
    /// keccak256("\u{19}Ethereum Signed Message:\n" + byte length + message).
    public static func hash(_ message: String) -> [UInt8] {
        let body = Array(message.utf8)
        return Keccak.hash256(Array("\u{19}Ethereum Signed Message:\n\(body.count)".utf8) + body)
    }

    /// The address that signed `message` with `signature`.
    public static func signer(of message: String, signature: Signature) throws -> Address {
        try signature.signer(of: hash(message))
    }
}

import Foundation
