import Foundation
import PetalsModel
import PetalsSwarm
import PetalsTestSupport
import XCTest

/// The swarm with real `plumise-petals serve` processes on 127.0.0.1, over every transport.
final class SwarmProcessTests: XCTestCase {
    static let transports = ["tcp", "unix", "tls"]

    override func setUpWithError() throws {
        try TestModel.requireModel()
    }

    func testTwoNodesSplittingTheModelGiveTheGreedyTokensOfOneNode() throws {
        let expected = try SwarmFixtures.localGreedy(SwarmFixtures.prompts[0], tokens: 24)
        for transport in Self.transports {
            let a = try ServerProcess(["--blocks", "0:15"] + SwarmFixtures.listenArguments(transport, name: "a"))
            let b = try ServerProcess(["--blocks", "15:30"] + SwarmFixtures.listenArguments(transport, name: "b"))
            let (generator, _) = try SwarmFixtures.remoteGenerator(peers: [a.address, b.address])
            let result = try generator.generate(promptTokens: generator.tokenize(SwarmFixtures.prompts[0]), maxNewTokens: 24,
                                                sampling: SamplingParameters(), stopAtEndOfGeneration: false)
            XCTAssertEqual(result.tokens, expected, "over \(transport)")
        }
    }

    func testKillingAServerMidGenerationFailsOverToItsReplicaWithIdenticalOutput() throws {
        let prompt = SwarmFixtures.prompts[2]
        let expected = try SwarmFixtures.localGreedy(prompt, tokens: 32)
        for transport in Self.transports {
            let a = try ServerProcess(["--blocks", "0:15"] + SwarmFixtures.listenArguments(transport, name: "fa"))
            let b = try ServerProcess(["--blocks", "15:30"] + SwarmFixtures.listenArguments(transport, name: "fb"))
            let replica = try ServerProcess(["--blocks", "15:30"] + SwarmFixtures.listenArguments(transport, name: "fr"))
            let (generator, backend) = try SwarmFixtures.remoteGenerator(peers: [a.address, b.address, replica.address])
            var pieces = 0
            var killed: ServerProcess?
            let result = try generator.generate(promptTokens: generator.tokenize(prompt), maxNewTokens: 32,
                                                sampling: SamplingParameters(), stopAtEndOfGeneration: false) { _ in
                pieces += 1
                guard pieces == 10, killed == nil else { return }
                // Kill whichever of the two replicas holds the session right now.
                let busy = [b, replica].first { server in
                    ((try? backend.directory.connect(server.address).info().openSessions) ?? 0) > 0
                }
                killed = busy
                busy?.kill(SIGKILL)
            }
            XCTAssertNotNil(killed, "over \(transport): no server of blocks 15:30 held the session")
            XCTAssertEqual(killed?.waitForExit(), SIGKILL, "over \(transport)")
            XCTAssertEqual(result.tokens, expected, "over \(transport)")
            XCTAssertTrue(backend.directory.banned.contains(killed?.address.description ?? ""))
        }
    }

    func testEightConcurrentClientsOnTwoNodesAllFinishCorrectly() throws {
        let tokens = 12
        let expected = try SwarmFixtures.prompts.map { try SwarmFixtures.localGreedy($0, tokens: tokens) }
        let a = try ServerProcess(["--blocks", "0:15"] + SwarmFixtures.listenArguments("tcp", name: "ca"))
        let b = try ServerProcess(["--blocks", "15:30"] + SwarmFixtures.listenArguments("tcp", name: "cb"))
        let (generator, _) = try SwarmFixtures.remoteGenerator(peers: [a.address, b.address])
        let lock = NSLock()
        var results = [Int: Result<[Int], Error>]()
        runConcurrently(8) { client in
            let prompt = SwarmFixtures.prompts[client % SwarmFixtures.prompts.count]
            let outcome = Result {
                try generator.generate(promptTokens: generator.tokenize(prompt), maxNewTokens: tokens,
                                       sampling: SamplingParameters(), stopAtEndOfGeneration: false).tokens
            }
            lock.withLock { results[client] = outcome }
        }
        XCTAssertEqual(results.count, 8)
        for client in 0..<8 {
            XCTAssertEqual(try results[client]?.get(), expected[client % expected.count], "client \(client)")
        }
    }

    func testAMissingBlockRangeIsAClearErrorNamingTheBlocks() throws {
        let a = try ServerProcess(["--blocks", "0:15"] + SwarmFixtures.listenArguments("tcp", name: "ma"))
        var options = SwarmFixtures.fastFailover
        options.maxAttempts = 2
        let (generator, _) = try SwarmFixtures.remoteGenerator(peers: [a.address], options: options)
        XCTAssertThrowsError(try generator.generate(promptTokens: [1, 2, 3], maxNewTokens: 2, sampling: SamplingParameters())) {
            XCTAssertTrue("\($0)".contains("no usable server for blocks [15, 30)"), "\($0)")
        }
    }

    func testSigtermStopsTheServerWithExitCodeZero() throws {
        let a = try ServerProcess(["--blocks", "0:2"] + SwarmFixtures.listenArguments("tcp", name: "term"))
        a.kill(SIGTERM)
        XCTAssertEqual(a.waitForExit(), 0)
    }

    func testAServerWatchingItsParentStopsWhenTheParentDies() throws {
        // A shell starts the server, writes its pid to a file and exits at once: the server follows.
        let pidFile = NSTemporaryDirectory() + "petals-watch-\(getpid()).pid"
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "\"$0\" serve --shard-only --watch-pid $$ --model \"$1\" --blocks 0:1 --host 127.0.0.1 --port 0 </dev/null >/dev/null 2>&1 & echo $! > \"$2\"",
                           TestModel.buildDirectory + "/plumise-petals", TestModel.path, pidFile]
        shell.standardOutput = FileHandle.nullDevice
        shell.standardError = FileHandle.nullDevice
        try shell.run()
        let started = Date()
        while shell.isRunning && Date().timeIntervalSince(started) < 10 { Thread.sleep(forTimeInterval: 0.05) }
        let text = try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let pid = try XCTUnwrap(Int32(text))
        let deadline = Date().addingTimeInterval(20)
        while kill(pid, 0) == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        let alive = kill(pid, 0) == 0
        if alive { kill(pid, SIGKILL) }
        XCTAssertFalse(alive, "server \(pid) outlived its parent")
    }
}
