@testable import PetalsSwarm
import XCTest

final class WireTests: XCTestCase {
    private let states = HiddenStates(rows: 2, cols: 3, values: [1, -2, 3.5, 0, 0.0009765625, -65504])

    func testRequestsRoundTripInBothActivationTypes() throws {
        let requests: [Request] = [
            .info, .forward(states), .openSession(maxLength: 512),
            .step(session: 42, position: 7, states: states), .closeSession(9),
        ]
        for request in requests {
            let (decoded, dtype) = try Request.decode(request.encode(dtype: .f32))
            XCTAssertEqual(decoded, request)
            XCTAssertEqual(dtype, .f32)
        }
        // These values are exact in f16, so they survive the half-precision wire too.
        let (decoded, dtype) = try Request.decode(Request.forward(states).encode(dtype: .f16))
        XCTAssertEqual(decoded, .forward(states))
        XCTAssertEqual(dtype, .f16)
    }

    func testHalfPrecisionRoundsToNearest() throws {
        let exact = HiddenStates(rows: 1, cols: 2, values: [0.1, 1000.3])
        guard case .forward(let got) = try Request.decode(Request.forward(exact).encode(dtype: .f16)).0 else {
            return XCTFail("not a forward")
        }
        XCTAssertEqual(got.values[0], 0.0999755859375)
        XCTAssertEqual(got.values[1], 1000.5)
    }

    func testRepliesRoundTrip() throws {
        let info = ServerInfo(protocolVersion: 1, model: "m", blockStart: 0, blockEnd: 15, blockCount: 30, hiddenSize: 576,
                              freeCacheTokens: 100, maxSessionLength: 64, openSessions: 2, throughput: 12.5, version: "v")
        for response: Response in [.info(info), .states(states), .opened(3), .closed, .error(code: 4, message: "nope ✗")] {
            XCTAssertEqual(try Response.decode(response.encode(dtype: .f32)), response)
        }
    }

    func testMalformedMessagesAreErrorsNotCrashes() {
        let valid = Request.step(session: 1, position: 0, states: states).encode(dtype: .f32)
        let cases: [[UInt8]] = [
            [],                               // nothing
            [99],                             // unknown type
            Array(valid.dropLast()),          // truncated payload
            valid + [0],                      // trailing byte
            [2, 7, 1, 0, 0, 0, 1, 0, 0, 0],  // unknown dtype
            [2, 0, 255, 255, 255, 255, 255, 255, 255, 255], // shape overflowing the payload
            [3, 1, 0],                        // short integer
        ]
        for bytes in cases {
            XCTAssertThrowsError(try Request.decode(bytes), "\(bytes.prefix(12))") {
                guard case WireError.malformed = $0 else { return XCTFail("\($0)") }
            }
        }
    }

    func testPeerAddressesParseWithOrWithoutScheme() throws {
        XCTAssertEqual(try PeerAddress(parsing: "127.0.0.1:31330"), PeerAddress(transport: "tcp", location: "127.0.0.1:31330"))
        XCTAssertEqual(try PeerAddress(parsing: " unix:///tmp/x.sock "), PeerAddress(transport: "unix", location: "/tmp/x.sock"))
        XCTAssertEqual(try PeerAddress.parseList("a:1, tcp://b:2,,"), [
            PeerAddress(transport: "tcp", location: "a:1"), PeerAddress(transport: "tcp", location: "b:2"),
        ])
        XCTAssertThrowsError(try PeerAddress(parsing: "tcp://"))
    }

    func testNewServersTakeTheLeastCoveredBlocks() {
        XCTAssertEqual(BlockPlacement.choose(count: 15, blockCount: 30, served: []), 0..<15)
        XCTAssertEqual(BlockPlacement.choose(count: 15, blockCount: 30, served: [0..<15]), 15..<30)
        XCTAssertEqual(BlockPlacement.choose(count: 10, blockCount: 30, served: [0..<15, 15..<30, 0..<15]), 15..<25)
        XCTAssertEqual(BlockPlacement.choose(count: 50, blockCount: 30, served: [0..<30]), 0..<30)
    }
}
