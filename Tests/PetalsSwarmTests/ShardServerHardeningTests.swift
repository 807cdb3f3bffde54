import Foundation
import PetalsModel
@testable import PetalsSwarm
import PetalsTestSupport
import PluginAPI
import XCTest

/// A shard server against hostile and careless peers, over real sockets on 127.0.0.1: trickled
/// frames, silent connections, connection floods, and (client side) a fake server announcing an
/// absurd reply.
final class ShardServerHardeningTests: XCTestCase {
    private var server: ShardServer!

    override func setUpWithError() throws {
        try TestModel.requireModel()
        let shard = try ModelShard(model: try TestModel.host().openModel(path: TestModel.path, blocks: 0..<1),
                                   pool: TestModel.pool)
        let limits = ServerLimits(maxSessions: 8, cacheTokenBudget: 256, maxSessionLength: 64, idleTimeoutSeconds: 1,
                                  maxTokensPerRequest: 16, stepTimeoutSeconds: 1, maxConnections: 6,
                                  maxConnectionsPerHost: 3)
        server = ShardServer(shard: shard, transport: try TestModel.host().transport(named: "tcp"),
                             listenAddress: "127.0.0.1:0", limits: limits)
        try server.start()
    }

    override func tearDown() {
        server?.stop()
    }

    private var port: Int { Int(server.address.split(separator: ":").last ?? "") ?? 0 }

    private func client() throws -> PeerClient {
        try PeerClient(address: PeerAddress(parsing: server.address), host: TestModel.host(), requestTimeout: 10)
    }

    /// A started server of the whole model with these limits.
    private func wholeModelServer(_ limits: ServerLimits) throws -> ShardServer {
        let shard = try ModelShard(model: try TestModel.host().openModel(path: TestModel.path, blocks: 0..<30),
                                   pool: TestModel.pool)
        let whole = ShardServer(shard: shard, transport: try TestModel.host().transport(named: "tcp"),
                                listenAddress: "127.0.0.1:0", limits: limits)
        try whole.start()
        return whole
    }

    /// A raw connection that completed the v2 handshake.
    private func handshaken() throws -> RawSocket {
        let socket = try RawSocket.connect(port: port)
        XCTAssertTrue(socket.send(FramedConnection.hello(version: FramedConnection.protocolVersion, status: 0)))
        let reply = try XCTUnwrap(socket.receive(exactly: 10, timeout: 5), "no handshake reply")
        XCTAssertEqual(Array(reply[0..<4]), Array("PPTW".utf8))
        XCTAssertEqual(reply[6], 0, "handshake refused: \(reply)")
        return socket
    }

    func testAFrameTrickledByteByByteIsDroppedAtItsDeadline() throws {
        let socket = try handshaken()
        // A header promising 1000 bytes, then one byte every 0.3 s: each gap is well inside the
        // 1 s step timeout, the whole frame is not.
        XCTAssertTrue(socket.send([0xE8, 0x03, 0, 0]))
        var sent = 0
        var closed = false
        while sent < 30 {
            if let answer = socket.receive(timeout: 0.3), answer.isEmpty || !answer.isEmpty {
                // Any answer is the error reply before the hang-up; wait for the close itself.
                closed = socket.receiveUntilClosed(timeout: 5) != nil
                break
            }
            guard socket.send([1]) else { closed = true; break }
            sent += 1
        }
        XCTAssertTrue(closed, "still connected after trickling \(sent) bytes over \(Double(sent) * 0.3) s")
        XCTAssertLessThan(sent, 30)
    }

    func testAConnectionIsClosedWhenIdleEvenAfterItsSessionWasReaped() throws {
        let peer = try client()
        _ = try peer.openSession(maxLength: 8)
        // Quiet for longer than the 1 s idle timeout (session and connection both idle out).
        Thread.sleep(forTimeInterval: 3)
        XCTAssertThrowsError(try peer.info(), "the idle connection was kept open")
        XCTAssertEqual(server.openConnections, 0)
    }

    func testConnectionsOverThePerAddressLimitAreRefusedWithTheReason() throws {
        let held = try (0..<3).map { _ in try client() }
        XCTAssertThrowsError(try client()) { error in
            guard case WireError.connectionRefused(let why) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(why.contains("limit per address is 3"), why)
        }
        // A refused client costs the server no thread: three connections, not four.
        XCTAssertEqual(server.openConnections, 3)
        held.forEach { $0.close() }
        let deadline = Date().addingTimeInterval(5)
        while server.openConnections > 0, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertNoThrow(try client().info())
    }

    func testAServerAtItsConnectionLimitIsRetriedOnceItHasRoomNotBannedForAMinute() throws {
        // The only server of the model, its two connections per address taken: a generation
        // that starts now is refused, and must go through once they close (a minute's ban would
        // fail every request meanwhile, as a split node's own API did under 64 users).
        let whole = try wholeModelServer(ServerLimits(maxConnectionsPerHost: 2))
        defer { whole.stop() }
        let address = try PeerAddress(parsing: whole.address)
        let held = try (0..<2).map { _ in try PeerClient(address: address, host: TestModel.host(), requestTimeout: 10) }
        XCTAssertNoThrow(try held[0].info())
        var options = SwarmFixtures.fastFailover
        options.backoffSeconds = 0.2
        options.maxAttempts = 5 // retries over 0.2 + 0.4 + 0.8 + 1.6 s
        let (generator, backend) = try SwarmFixtures.remoteGenerator(peers: [address], options: options)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) { held.forEach { $0.close() } }
        let prompt = "The capital of France is"
        let tokens = try generator.generate(promptTokens: generator.tokenize(prompt), maxNewTokens: 4,
                                            sampling: SamplingParameters(), stopAtEndOfGeneration: false).tokens
        XCTAssertEqual(tokens, try SwarmFixtures.localGreedy(prompt, tokens: 4))
        XCTAssertTrue(backend.directory.banned.isEmpty, "banned \(backend.directory.banned)")
    }

    func testRefusalsForLackOfRoomMarkTheServerBusyNotBanned() throws {
        let directory = SwarmDirectory(peers: [], host: try TestModel.host())
        try directory.judge("tcp://a:1", error: WireError.connectionRefused("127.0.0.1 already has 64 connections open"))
        try directory.judge("tcp://b:1", error: WireError.remote(code: WireErrorCode.serverFull.rawValue, message: "full"))
        XCTAssertTrue(directory.banned.isEmpty, "banned \(directory.banned)")
        XCTAssertEqual(directory.busy, ["tcp://a:1", "tcp://b:1"])
    }

    func testAReplyLargerThanTheRequestCanNeedIsRefusedFromItsHeader() throws {
        // A fake server: shakes hands, then announces a 1 GiB reply to anything.
        let fake = try RawListener()
        let done = expectation(description: "fake server")
        Thread.detachNewThread {
            defer { done.fulfill() }
            guard let peer = fake.accept(timeout: 10), peer.receive(exactly: 10, timeout: 5) != nil else { return }
            peer.send(FramedConnection.hello(version: FramedConnection.protocolVersion, status: 0))
            guard peer.receive(timeout: 5) != nil else { return }
            peer.send([0, 0, 0, 0x40])
            _ = peer.receive(timeout: 10)
        }
        let client = try PeerClient(address: PeerAddress(parsing: "127.0.0.1:\(fake.port)"), host: TestModel.host(),
                                    requestTimeout: 5)
        XCTAssertThrowsError(try client.info()) { error in
            guard case PeerError.replyTooLarge(_, let length, let limit) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(length, 1 << 30)
            XCTAssertEqual(limit, PeerClient.smallReplyLimit)
        }
        client.close()
        wait(for: [done], timeout: 15)
    }

    func testTooLongARequestForEveryRouteIsRefusedWithTheLimitAndBansNoServer() throws {
        // The whole model behind one server whose sessions hold 64 positions.
        let whole = try wholeModelServer(ServerLimits(maxSessionLength: 64))
        defer { whole.stop() }
        let (generator, backend) = try SwarmFixtures.remoteGenerator(peers: [try PeerAddress(parsing: whole.address)])
        let prompt = generator.tokenize("The capital of France is")
        XCTAssertThrowsError(try generator.generate(promptTokens: prompt, maxNewTokens: 64, sampling: SamplingParameters())) {
            XCTAssertEqual($0 as? RouteError, .sessionTooLong(requested: prompt.count + 64, longest: 64))
            XCTAssertTrue("\($0)".contains("--max-length"), "\($0)")
        }
        XCTAssertTrue(backend.directory.banned.isEmpty, "banned \(backend.directory.banned)")
        XCTAssertEqual(try generator.generate(promptTokens: prompt, maxNewTokens: 4, sampling: SamplingParameters()).tokens,
                       try SwarmFixtures.localGreedy("The capital of France is", tokens: 4))
    }

    func testARequestRefusedForWhatItAsksKeepsTheServerInRoutes() throws {
        let directory = SwarmDirectory(peers: [], host: try TestModel.host())
        XCTAssertThrowsError(try directory.judge("tcp://a:1", error: WireError.remote(code: WireErrorCode.lengthTooLarge.rawValue,
                                                                                     message: "too long"))) {
            XCTAssertEqual(($0 as? RequestRefused)?.code, 414)
        }
        XCTAssertNoThrow(try directory.judge("tcp://b:1", error: WireError.remote(code: WireErrorCode.unknownSession.rawValue,
                                                                                   message: "gone")))
        XCTAssertTrue(directory.banned.isEmpty)
        try directory.judge("tcp://c:1", error: WireError.remote(code: WireErrorCode.internalError.rawValue, message: "boom"))
        XCTAssertEqual(directory.banned, ["tcp://c:1"])
    }

    func testErrorCodesSayWhoIsAtFaultEvenForCodesNotYetDefined() {
        XCTAssertEqual(WireErrorCode.fault(of: WireErrorCode.lengthTooLarge.rawValue), .request)
        XCTAssertEqual(WireErrorCode.fault(of: WireErrorCode.badShape.rawValue), .request)
        XCTAssertEqual(WireErrorCode.fault(of: WireErrorCode.serverFull.rawValue), .capacity)
        XCTAssertEqual(WireErrorCode.fault(of: WireErrorCode.internalError.rawValue), .server)
        XCTAssertEqual(WireErrorCode.fault(of: 451), .request)
        XCTAssertEqual(WireErrorCode.fault(of: 599), .server)
    }
}
