import CSecp256k1
import Foundation

/// libsecp256k1, wrapped once: deterministic (RFC 6979) recoverable signatures and recovery.
/// The context is created once and is safe to share between threads for these calls.
enum Secp256k1 {
    private static let context: OpaquePointer = {
        guard let ctx = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_SIGN | SECP256K1_CONTEXT_VERIFY)) else {
            fatalError("libsecp256k1 could not create a context")
        }
        return ctx
    }()

    /// True when `secret` is a valid private key (non-zero and below the curve order).
    static func isValidSecret(_ secret: [UInt8]) -> Bool {
        secret.count == 32 && secp256k1_ec_seckey_verify(context, secret) == 1
    }

    /// The 64-byte uncompressed public key (x ‖ y) of `secret`.
    static func publicKey(secret: [UInt8]) throws -> [UInt8] {
        var key = secp256k1_pubkey()
        guard secp256k1_ec_pubkey_create(context, &key, secret) == 1 else {
            throw ChainError.invalidPrivateKey("not a valid secp256k1 secret")
        }
        return serialize(key)
    }

    /// (r ‖ s, recovery id 0...3) of the 32-byte `hash`, with libsecp256k1's RFC 6979 nonces
    /// and a low s, as Ethereum requires.
    static func sign(hash: [UInt8], secret: [UInt8]) throws -> (rs: [UInt8], recoveryID: Int) {
        precondition(hash.count == 32, "sign a 32-byte hash")
        var signature = secp256k1_ecdsa_recoverable_signature()
        guard secp256k1_ecdsa_sign_recoverable(context, &signature, hash, secret, nil, nil) == 1 else {
            throw ChainError.invalidPrivateKey("signing failed")
        }
        var rs = [UInt8](repeating: 0, count: 64)
        var recid: Int32 = 0
        secp256k1_ecdsa_recoverable_signature_serialize_compact(context, &rs, &recid, &signature)
        return (rs, Int(recid))
    }

    /// The public key that signed `hash` with (r ‖ s, recovery id).
    static func recover(hash: [UInt8], rs: [UInt8], recoveryID: Int) throws -> [UInt8] {
        guard hash.count == 32, rs.count == 64, (0...3).contains(recoveryID) else {
            throw ChainError.invalidSignature("needs a 32-byte hash, 64 bytes of r and s and a recovery id 0...3")
        }
        var signature = secp256k1_ecdsa_recoverable_signature()
        guard secp256k1_ecdsa_recoverable_signature_parse_compact(context, &signature, rs, Int32(recoveryID)) == 1 else {
            throw ChainError.invalidSignature("r or s is out of range")
        }
        var key = secp256k1_pubkey()
        guard secp256k1_ecdsa_recover(context, &key, &signature, hash) == 1 else {
            throw ChainError.invalidSignature("no public key recovers from it")
        }
        return serialize(key)
    }

    private static func serialize(_ key: secp256k1_pubkey) -> [UInt8] {
        var key = key
        var out = [UInt8](repeating: 0, count: 65)
        var length = 65
        secp256k1_ec_pubkey_serialize(context, &out, &length, &key, UInt32(SECP256K1_EC_UNCOMPRESSED))
        return Array(out[1...]) // drop the 0x04 prefix
    }
}
