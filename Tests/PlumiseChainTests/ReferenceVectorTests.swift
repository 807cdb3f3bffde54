import BigInt
import Foundation
import PlumiseChain
import XCTest

/// Every vector eth-account produced (scripts/reference/make_chain_vectors.py), byte for byte.
final class ReferenceVectorTests: XCTestCase {
    private static let vectors: [String: Any] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/chain/vectors.json")
        return (try? JSONSerialization.jsonObject(with: Data(contentsOf: url))) as? [String: Any] ?? [:]
    }()

    private func cases(_ key: String) throws -> [[String: Any]] {
        try XCTUnwrap(Self.vectors[key] as? [[String: Any]], "fixture section \(key)")
    }

    func testKeccak256MatchesTheStandardVectors() throws {
        for v in try cases("keccak256") {
            let input: [UInt8]
            if let repeated = v["input_repeat"] as? String, let count = v["count"] as? Int {
                input = Array(String(repeating: repeated, count: count).utf8)
            } else {
                input = try XCTUnwrap(Hex.decode(v["input_hex"] as? String ?? ""))
            }
            XCTAssertEqual(Hex.encode(Keccak.hash256(input)), v["hash"] as? String, "\(input.count) bytes")
        }
    }

    func testAddressesAreDerivedAndChecksummed() throws {
        for v in try cases("accounts") {
            let wallet = try Wallet(privateKey: try XCTUnwrap(v["private_key"] as? String))
            XCTAssertEqual(wallet.address.description, v["address"] as? String)
            XCTAssertEqual(try Address(XCTUnwrap(v["address"] as? String)), wallet.address)
        }
    }

    func testPersonalSignaturesAreTheSameBytesAndRecoverTheSigner() throws {
        for v in try cases("personal_sign") {
            let wallet = try Wallet(privateKey: try XCTUnwrap(v["private_key"] as? String))
            let message = try XCTUnwrap(v["message"] as? String)
            let signature = try wallet.personalSign(message)
            XCTAssertEqual(signature.hex, v["signature"] as? String, message)
            XCTAssertEqual(try PersonalMessage.signer(of: message, signature: Signature(hex: signature.hex)), wallet.address)
        }
    }

    func testSignedTransactionsAreTheSameBytesAndDecodeBack() throws {
        for v in try cases("transactions") {
            let wallet = try Wallet(privateKey: try XCTUnwrap(v["private_key"] as? String))
            let tx = LegacyTransaction(
                nonce: BigUInt(try XCTUnwrap(v["nonce"] as? Int)), gasPrice: BigUInt(try XCTUnwrap(v["gas_price"] as? Int)),
                gasLimit: BigUInt(try XCTUnwrap(v["gas"] as? Int)), to: try Address(XCTUnwrap(v["to"] as? String)),
                value: BigUInt(try XCTUnwrap(v["value"] as? Int)), data: try XCTUnwrap(Hex.decode(v["data"] as? String ?? "")),
                chainID: BigUInt(try XCTUnwrap(v["chain_id"] as? Int)))
            let signed = try tx.signed(by: wallet)
            let name = v["name"] as? String ?? "?"
            XCTAssertEqual(signed.rawHex, v["raw"] as? String, name)
            XCTAssertEqual(signed.hashHex, v["hash"] as? String, name)
            XCTAssertEqual(signed.v, BigUInt(try XCTUnwrap(v["v"] as? Int)), name)

            let decoded = try SignedTransaction.decode(raw: signed.raw)
            XCTAssertEqual(decoded.transaction, tx, name)
            XCTAssertEqual(decoded.sender.description, v["sender"] as? String, name)
            XCTAssertEqual(decoded.transaction.chainID, 41956)
        }
    }

    func testCallDataOfTheContractCalls() throws {
        for v in try cases("abi_calls") {
            let signature = try XCTUnwrap(v["signature"] as? String)
            let agent = try Address(XCTUnwrap(v["argument"] as? String))
            let arguments: [ABI.Value] = signature.contains("(address)") ? [.address(agent)] : []
            XCTAssertEqual(Hex.encode(ABI.call(signature, arguments)), v["data"] as? String, signature)
        }
        for v in try cases("abi_results") {
            let data = try XCTUnwrap(Hex.decode(v["data"] as? String ?? ""))
            let values = try XCTUnwrap(v["values"] as? [Int])
            XCTAssertEqual(try ABI.words(data, count: values.count).map(ABI.uint), values.map { BigUInt($0) })
        }
    }
}
