import BigInt

/// A legacy (type 0) transaction, signed with EIP-155 replay protection.
public struct LegacyTransaction: Equatable, Sendable {
    public var nonce: BigUInt
    public var gasPrice: BigUInt
    public var gasLimit: BigUInt
    /// nil creates a contract.
    public var to: Address?
    public var value: BigUInt
    public var data: [UInt8]
    public var chainID: BigUInt

    public init(nonce: BigUInt, gasPrice: BigUInt, gasLimit: BigUInt, to: Address?, value: BigUInt = 0,
                data: [UInt8] = [], chainID: BigUInt) {
        self.nonce = nonce
        self.gasPrice = gasPrice
        self.gasLimit = gasLimit
        self.to = to
        self.value = value
        self.data = data
        self.chainID = chainID
    }

    private var fields: [RLP] {
        [.uint(nonce), .uint(gasPrice), .uint(gasLimit), .bytes(to?.bytes ?? []), .uint(value), .bytes(data)]
    }

    /// What is signed: keccak256(rlp([nonce, gasPrice, gas, to, value, data, chainId, 0, 0])).
    public var signingHash: [UInt8] {
        Keccak.hash256(RLP.list(fields + [.uint(chainID), .uint(BigUInt(0)), .uint(BigUInt(0))]).encoded())
    }

    public func signed(by wallet: Wallet) throws -> SignedTransaction {
        let signature = try wallet.sign(hash: signingHash)
        let v = chainID * 2 + 35 + BigUInt(signature.recoveryID)
        let raw = RLP.list(fields + [.uint(v), .uint(BigUInt(Data(signature.r))), .uint(BigUInt(Data(signature.s)))]).encoded()
        return SignedTransaction(transaction: self, raw: raw, v: v, r: signature.r, s: signature.s, sender: wallet.address)
    }
}

/// A signed transaction as sent to eth_sendRawTransaction.
public struct SignedTransaction: Equatable, Sendable {
    public let transaction: LegacyTransaction
    public let raw: [UInt8]
    public let v: BigUInt
    public let r: [UInt8]
    public let s: [UInt8]
    /// The address recovered from (or that made) the signature.
    public let sender: Address

    public var rawHex: String { Hex.encode(raw) }
    /// The transaction hash: keccak256 of the raw bytes.
    public var hash: [UInt8] { Keccak.hash256(raw) }
    public var hashHex: String { Hex.encode(hash) }

    /// Decodes a raw EIP-155 legacy transaction and recovers its sender from the signature.
    public static func decode(raw: [UInt8]) throws -> SignedTransaction {
        guard case .list(let items) = try RLP.decode(raw) else {
            throw ChainError.malformedTransaction("not an RLP list (typed transactions are not supported)")
        }
        guard items.count == 9 else { throw ChainError.malformedTransaction("\(items.count) fields, a legacy transaction has 9") }
        let toBytes = try items[3].bytes("to")
        guard toBytes.isEmpty || toBytes.count == 20 else { throw ChainError.malformedTransaction("to has \(toBytes.count) bytes") }
        let v = try items[6].uint("v")
        guard v >= 35 else { throw ChainError.malformedTransaction("v = \(v) has no EIP-155 chain id") }
        let chainID = (v - 35) / 2
        let recoveryID = Int((v - 35) % 2)
        let tx = LegacyTransaction(nonce: try items[0].uint("nonce"), gasPrice: try items[1].uint("gasPrice"),
                                   gasLimit: try items[2].uint("gas"), to: toBytes.isEmpty ? nil : try Address(bytes: toBytes),
                                   value: try items[4].uint("value"), data: try items[5].bytes("data"), chainID: chainID)
        let r = try items[7].uint("r"), s = try items[8].uint("s")
        guard r.bitWidth <= 256, s.bitWidth <= 256, r > 0, s > 0 else { throw ChainError.malformedTransaction("r or s out of range") }
        let rBytes = Self.word(r), sBytes = Self.word(s)
        let sender = try Signature(r: rBytes, s: sBytes, recoveryID: recoveryID).signer(of: tx.signingHash)
        return SignedTransaction(transaction: tx, raw: raw, v: v, r: rBytes, s: sBytes, sender: sender)
    }

    /// A value left-padded to 32 bytes.
    static func word(_ value: BigUInt) -> [UInt8] {
        let b = Array(value.serialize())
        return [UInt8](repeating: 0, count: max(0, 32 - b.count)) + b
    }
}

import Foundation
