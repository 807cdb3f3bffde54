import Foundation
import PetalsModel
@testable import PetalsSwarm
import PetalsTestSupport
import PluginAPI
import XCTest

/// A shard server in this process, reached over real TCP sockets on 127.0.0.1.
final class ShardServerTests: XCTestCase {
    private var server: ShardServer!
    private var shard: ModelShard!

    override func setUpWithError() throws {
        try TestModel.requireModel()
        shard = try ModelShard(model: try TestModel.host().openModel(path: TestModel.path, blocks: 0..<2), pool: TestModel.pool)
        server = try startServer(transport: "tcp", listen: "127.0.0.1:0")
    }

    override func tearDown() {
        server?.stop()
    }

    private func startServer(transport: String, listen: String) throws -> ShardServer {
        let limits = ServerLimits(maxSessions: 3, cacheTokenBudget: 96, maxSessionLength: 64, idleTimeoutSeconds: 0.6,
                                  maxTokensPerRequest: 16, stepTimeoutSeconds: 2)
        let server = ShardServer(shard: shard, transport: try TestModel.host().transport(named: transport),
                                 listenAddress: listen, limits: limits)
        try server.start()
        return server
    }

    private func client(of server: ShardServer? = nil) throws -> PeerClient {
        try PeerClient(address: PeerAddress(parsing: (server ?? self.server).address), host: TestModel.host(), requestTimeout: 10)
    }

    private func randomStates(rows: Int, seed: UInt64) -> HiddenStates {
        var generator = SeededGenerator(seed: seed)
        let values = (0..<rows * shard.hp.embedding).map { _ in Float.random(in: -1...1, using: &generator) }
        return HiddenStates(rows: rows, cols: shard.hp.embedding, values: values)
    }

    /// What the shard computes locally for consecutive chunks through one cache.
    private func local(_ chunks: [HiddenStates]) throws -> [HiddenStates] {
        let cache = shard.makeCache(capacity: 64)
        return try chunks.map { chunk in
            let buffer = FloatBuffer(count: chunk.values.count)
            buffer.copy(from: chunk.values)
            try shard.forward(buffer, nTok: chunk.rows, cache: cache)
            return HiddenStates(rows: chunk.rows, cols: chunk.cols, values: buffer.array())
        }
    }

    private func assertRemoteError(_ code: WireErrorCode, _ body: () throws -> Void, file: StaticString = #filePath,
                                   line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard case WireError.remote(let got, _) = error else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertEqual(got, code.rawValue, "\(error)", file: file, line: line)
        }
    }

    func testInfoDescribesTheShard() throws {
        let info = try client().info()
        XCTAssertEqual(info.blocks, 0..<2)
        XCTAssertEqual(info.blockCount, 30)
        XCTAssertEqual(info.hiddenSize, 576)
        XCTAssertEqual(info.freeCacheTokens, 96)
        XCTAssertGreaterThan(info.throughput, 0)
        XCTAssertEqual(info.model, shard.modelDescription.name)
    }

    func testSessionStepsEqualTheLocalForwardPassAndKeepTheCache() throws {
        let chunks = [randomStates(rows: 5, seed: 1), randomStates(rows: 1, seed: 2), randomStates(rows: 1, seed: 3)]
        let expected = try local(chunks)
        for dtype in [WireDType.f32] {
            let peer = try PeerClient(address: PeerAddress(parsing: server.address), host: TestModel.host(), dtype: dtype)
            let id = try peer.openSession(maxLength: 32)
            var position = 0
            for (chunk, want) in zip(chunks, expected) {
                XCTAssertEqual(try peer.step(session: id, position: position, chunk), want)
                position += chunk.rows
            }
            // A retried step (same position again) recomputes from there, not from the end.
            XCTAssertEqual(try peer.step(session: id, position: 6, chunks[2]), expected[2])
            XCTAssertEqual(try server.info.openSessions, 1)
            try peer.closeSession(id)
            XCTAssertEqual(server.info.openSessions, 0)
        }
        // A stateless forward is the first step of a fresh session.
        XCTAssertEqual(try client().forward(chunks[0]), expected[0])
    }

    func testHalfPrecisionActivationsAreTheF32ResultOfTheRoundedInputRounded() throws {
        let chunk = randomStates(rows: 3, seed: 9)
        let peer = try PeerClient(address: PeerAddress(parsing: server.address), host: TestModel.host(), dtype: .f16)
        let got = try peer.forward(chunk)
        // The server computes in f32 on what arrived (the input rounded to f16), and rounds the result.
        let want = try halfRounded(local([halfRounded(chunk)])[0])
        XCTAssertEqual(got, want)
    }

    private func halfRounded(_ states: HiddenStates) throws -> HiddenStates {
        guard case .forward(let rounded) = try Request.decode(Request.forward(states).encode(dtype: .f16)).0 else {
            throw WireError.unexpectedReply("not a forward")
        }
        return rounded
    }

    func testBadRequestsGetErrorRepliesAndTheConnectionStaysUsable() throws {
        let peer = try client()
        let good = randomStates(rows: 1, seed: 4)
        assertRemoteError(.badShape) { _ = try peer.forward(HiddenStates(rows: 1, cols: 3, values: [1, 2, 3])) }
        // Too many tokens (sent in f16 so the frame itself stays under the size limit).
        let halfPeer = try PeerClient(address: PeerAddress(parsing: server.address), host: TestModel.host(), dtype: .f16)
        assertRemoteError(.badShape) { _ = try halfPeer.forward(self.randomStates(rows: 17, seed: 5)) }
        assertRemoteError(.unknownSession) { _ = try peer.step(session: 999, position: 0, good) }
        assertRemoteError(.lengthTooLarge) { _ = try peer.openSession(maxLength: 65) }
        assertRemoteError(.lengthTooLarge) { _ = try peer.openSession(maxLength: 0) }
        let id = try peer.openSession(maxLength: 8)
        assertRemoteError(.badPosition) { _ = try peer.step(session: id, position: 3, good) }
        assertRemoteError(.badPosition) { _ = try peer.step(session: id, position: 0, self.randomStates(rows: 9, seed: 6)) }
        // Another connection cannot use this connection's session.
        assertRemoteError(.unknownSession) { _ = try self.client().step(session: id, position: 0, good) }
        XCTAssertNoThrow(try peer.step(session: id, position: 0, good))
        assertRemoteError(.unknownSession) { try peer.closeSession(12345) }
    }

    func testLimitsRefuseSessionsWithAClearMessage() throws {
        let peer = try client()
        _ = try peer.openSession(maxLength: 64)
        XCTAssertThrowsError(try peer.openSession(maxLength: 64)) {
            XCTAssertTrue("\($0)".contains("cache is full: session needs 64 positions, 32 are free"), "\($0)")
        }
        _ = try peer.openSession(maxLength: 16)
        _ = try peer.openSession(maxLength: 8)
        assertRemoteError(.serverFull) { _ = try peer.openSession(maxLength: 1) }
        // A client that goes away frees its sessions.
        peer.close()
        let deadline = Date().addingTimeInterval(3)
        while server.info.openSessions > 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertEqual(server.info.freeCacheTokens, 96)
    }

    func testIdleSessionsAreFreed() throws {
        let peer = try client()
        let id = try peer.openSession(maxLength: 8)
        Thread.sleep(forTimeInterval: 2)
        // The session idled out, and so did its connection (closed by the server).
        XCTAssertThrowsError(try peer.step(session: id, position: 0, self.randomStates(rows: 1, seed: 7)))
        XCTAssertEqual(server.info.openSessions, 0)
        assertRemoteError(.unknownSession) { _ = try self.client().step(session: id, position: 0, self.randomStates(rows: 1, seed: 7)) }
    }

    func testOversizedFramesAreRefusedBeforeTheyAreRead() throws {
        let connection = try TestModel.host().transport(named: "tcp").connect(address: String(server.address.dropFirst(6)))
        let framed = FramedConnection(connection, maxFrameBytes: 1 << 20)
        try framed.clientHandshake(timeout: 2)
        var header = ByteWriter()
        header.u32(UInt32.max)
        try connection.send(header.bytes)
        let reply = try XCTUnwrap(try framed.receiveFrame(idleTimeout: 5, bodyTimeout: 5))
        guard case .error(let code, let message) = try Response.decode(reply) else { return XCTFail("not an error") }
        XCTAssertEqual(code, WireErrorCode.tooLarge.rawValue)
        XCTAssertTrue(message.contains("exceeds the limit"), message)
        XCTAssertThrowsError(try connection.receive(exactly: 1, timeout: 2), "the server hangs up")
        XCTAssertNoThrow(try client().info())
    }

    func testAWrongProtocolVersionIsRefusedAtTheHandshake() throws {
        let connection = try TestModel.host().transport(named: "tcp").connect(address: String(server.address.dropFirst(6)))
        try connection.send(FramedConnection.hello(version: 77, status: 0))
        let reply = try XCTUnwrap(try connection.receive(exactly: 8, timeout: 2))
        XCTAssertEqual(Array(reply.prefix(4)), FramedConnection.magic)
        XCTAssertEqual(reply[6], 1, "status: unsupported version")
    }

    func testGarbageFramesNeverStopTheServerOrDisturbOtherSessions() throws {
        try garbageNeverStops(server)
        let unix = try startServer(transport: "unix", listen: NSTemporaryDirectory() + "petals-fuzz-\(getpid()).sock")
        defer { unix.stop() }
        try garbageNeverStops(unix)
    }

    private func garbageNeverStops(_ server: ShardServer) throws {
        let victim = try client(of: server)
        let id = try victim.openSession(maxLength: 64)
        let first = randomStates(rows: 2, seed: 10), second = randomStates(rows: 1, seed: 11)
        let expected = try local([first, second])
        XCTAssertEqual(try victim.step(session: id, position: 0, first), expected[0])

        var generator = SeededGenerator(seed: 2024)
        let address = try PeerAddress(parsing: server.address)
        let transport = try TestModel.host().transport(named: address.transport)
        let location = address.location
        let valid = Request.step(session: 1, position: 0, states: randomStates(rows: 1, seed: 12)).encode(dtype: .f32)
        for round in 0..<200 {
            let connection = try transport.connect(address: location)
            var bytes: [UInt8]
            switch round % 4 {
            case 0: // garbage instead of a handshake
                bytes = (0..<Int.random(in: 1...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            case 1: // a valid handshake, then a random payload in a well-formed frame
                let payload = (0..<Int.random(in: 1...300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                bytes = FramedConnection.hello(version: FramedConnection.protocolVersion, status: 0) + frame(payload)
            case 2: // a valid request with some bytes flipped
                var payload = valid
                for _ in 0..<3 { payload[Int.random(in: 0..<payload.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator) }
                bytes = FramedConnection.hello(version: FramedConnection.protocolVersion, status: 0) + frame(payload)
            default: // a frame cut short, then the client vanishes
                bytes = FramedConnection.hello(version: FramedConnection.protocolVersion, status: 0) + Array(frame(valid).prefix(20))
            }
            try? connection.send(bytes)
            if round % 8 == 1 { _ = try? connection.receive(exactly: 8, timeout: 1) }
            connection.close()
        }
        XCTAssertEqual(try victim.step(session: id, position: 2, second), expected[1], server.address)
        XCTAssertNoThrow(try client(of: server).info())
    }

    private func frame(_ payload: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        w.u32(UInt32(payload.count))
        w.raw(payload)
        return w.bytes
    }
}
