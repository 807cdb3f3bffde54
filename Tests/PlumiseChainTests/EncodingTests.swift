import BigInt
import PlumiseChain
import XCTest

final class EncodingTests: XCTestCase {
    func testRLPOfTheYellowPaperExamples() throws {
        XCTAssertEqual(RLP.bytes(Array("dog".utf8)).encoded(), [0x83] + Array("dog".utf8))
        XCTAssertEqual(RLP.list([.bytes(Array("cat".utf8)), .bytes(Array("dog".utf8))]).encoded(),
                       [0xc8, 0x83] + Array("cat".utf8) + [0x83] + Array("dog".utf8))
        XCTAssertEqual(RLP.bytes([]).encoded(), [0x80])
        XCTAssertEqual(RLP.list([]).encoded(), [0xc0])
        XCTAssertEqual(RLP.uint(BigUInt(0)).encoded(), [0x80])
        XCTAssertEqual(RLP.uint(BigUInt(15)).encoded(), [0x0f])
        XCTAssertEqual(RLP.uint(BigUInt(1024)).encoded(), [0x82, 0x04, 0x00])
        let long = [UInt8](repeating: 7, count: 60)
        XCTAssertEqual(RLP.bytes(long).encoded(), [0xb8, 60] + long)
        let nested = RLP.list([.list([]), .list([.list([])]), .list([.list([]), .list([.list([])])])])
        XCTAssertEqual(nested.encoded(), [0xc7, 0xc0, 0xc1, 0xc0, 0xc3, 0xc0, 0xc1, 0xc0])
        for item in [nested, .bytes(long), .list([.bytes([1, 2, 3]), .uint(BigUInt(70000))])] {
            XCTAssertEqual(try RLP.decode(item.encoded()), item)
        }
    }

    func testMalformedRLPIsAnErrorNotACrash() {
        let bad: [[UInt8]] = [
            [], [0x83, 0x61], [0xb8], [0xb8, 0x01, 0x00], [0x81, 0x05], [0xc2, 0x80], [0x80, 0x80],
            [0xb9, 0x00, 0x40] + [UInt8](repeating: 0, count: 64), [0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ]
        for bytes in bad { XCTAssertThrowsError(try RLP.decode(bytes), "\(bytes.prefix(6))") }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0...40, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? RLP.decode(bytes)
            _ = try? SignedTransaction.decode(raw: bytes)
        }
    }

    func testInvalidKeysAreRejectedWithoutRevealingThem() {
        let secretish = "0xdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbe"
        for key in ["", "  ", "xyz", secretish, String(repeating: "0", count: 64),
                    "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", secretish + "efef"] {
            XCTAssertThrowsError(try Wallet(privateKey: key)) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix("invalid private key"), text)
                XCTAssertFalse(text.contains("deadbeef"), text)
                XCTAssertFalse(text.contains("baaedce6"), text)
            }
        }
        // Bare hex and surrounding whitespace are accepted.
        XCTAssertNoThrow(try Wallet(privateKey: "  4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318\n"))
        let wallet = try? Wallet(privateKey: "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
        XCTAssertFalse("\(String(describing: wallet))".contains("4c0883a6"))
    }

    func testAddressesValidateTheirChecksum() throws {
        let address = try Address("0x2c7536E3605D9C16a7a3D7b1898e529396a65c23")
        XCTAssertEqual(try Address("0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"), address)
        XCTAssertThrowsError(try Address("0x2c7536E3605D9C16a7a3D7b1898e529396a65C23")) {
            XCTAssertTrue("\($0)".contains("checksum"), "\($0)")
        }
        XCTAssertThrowsError(try Address("0x1234"))
        XCTAssertEqual(Address.system(0x21).lowercased, "0x0000000000000000000000000000000000000021")
        XCTAssertEqual(Address.system(0x1000).lowercased, "0x0000000000000000000000000000000000001000")
    }

    func testTamperedSignaturesDoNotRecoverTheSigner() throws {
        let wallet = try Wallet(privateKey: "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
        let signature = try wallet.personalSign("hello")
        XCTAssertNotEqual(try? PersonalMessage.signer(of: "hello!", signature: signature), wallet.address)
        var bytes = signature.bytes
        bytes[64] = 29
        XCTAssertThrowsError(try Signature(bytes: bytes))
        XCTAssertThrowsError(try Signature(bytes: Array(bytes.prefix(64))))
    }

    func testAgentRegistryRecordsDecode() throws {
        let owner = try Address("0x2c7536E3605D9C16a7a3D7b1898e529396a65c23")
        let data = ABI.word(.address(owner)) + ABI.word(.bytes32(Array("node-1".utf8))) + ABI.word(.uint(100))
            + ABI.word(.uint(250)) + ABI.word(.bool(true))
        let record = try AgentRegistry.decodeRecord(data)
        XCTAssertEqual(record.owner, owner)
        XCTAssertEqual(record.name, "node-1")
        XCTAssertEqual([record.registeredAt, record.lastHeartbeat], [100, 250])
        XCTAssertTrue(record.active)
        XCTAssertThrowsError(try AgentRegistry.decodeRecord(Array(data.prefix(100))))
        var badBool = data
        badBool[159] = 2
        XCTAssertThrowsError(try AgentRegistry.decodeRecord(badBool))
    }
}
