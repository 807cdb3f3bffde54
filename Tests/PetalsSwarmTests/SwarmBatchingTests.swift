import Foundation
import PetalsModel
import PetalsSwarm
import PetalsTestSupport
import XCTest

/// Continuous batching on real shard server processes (0:15 + 15:30 on 127.0.0.1): concurrent
/// clients get their solo greedy tokens, and failover under load still replays identically.
final class SwarmBatchingTests: XCTestCase {
    override func setUpWithError() throws {
        try TestModel.requireModel()
    }

    /// Sixteen prompts of different lengths (one needs several prefill chunks).
    static let prompts: [String] = (0..<16).map { i in
        let words = ["river", "stone", "light", "garden", "winter", "music", "paper", "engine", "cloud", "forest"]
        let length = [1, 2, 4, 7, 11, 16, 23, 90][i % 8] + i / 8
        return (0..<length).map { words[($0 * 3 + i) % words.count] }.joined(separator: " ")
    }

    /// Runs every prompt at once through `generator`, one thread each; `during` runs on the
    /// first client's text pieces (e.g. to kill a server mid-generation).
    private func concurrently(_ generator: TextGenerator, tokens: Int, during: @escaping (Int) -> Void = { _ in })
        -> [Int: Result<[Int], Error>] {
        let lock = NSLock()
        var results = [Int: Result<[Int], Error>]()
        runConcurrently(Self.prompts.count) { i in
            var pieces = 0
            let outcome = Result {
                try generator.generate(promptTokens: generator.tokenize(Self.prompts[i]), maxNewTokens: tokens,
                                       sampling: SamplingParameters(), stopAtEndOfGeneration: false) { _ in
                    pieces += 1
                    if i == 0 { during(pieces) }
                }.tokens
            }
            lock.withLock { results[i] = outcome }
        }
        return results
    }

    func testSixteenConcurrentClientsThroughTwoServersGiveTheirSoloGreedyTokens() throws {
        let tokens = 10
        let solo = try Self.prompts.map { try SwarmFixtures.localGreedy($0, tokens: tokens) }
        let a = try ServerProcess(["--blocks", "0:15"] + SwarmFixtures.listenArguments("tcp", name: "ba"))
        let b = try ServerProcess(["--blocks", "15:30"] + SwarmFixtures.listenArguments("tcp", name: "bb"))
        let (generator, backend) = try SwarmFixtures.remoteGenerator(peers: [a.address, b.address])
        let results = concurrently(generator, tokens: tokens)
        for i in Self.prompts.indices {
            XCTAssertEqual(try results[i]?.get(), solo[i], "client \(i)")
        }
        // The clients' output heads ran together: every step's logits, in fewer products.
        let head = backend.headStatistics
        XCTAssertEqual(head.rows, Self.prompts.count * tokens, "one row of logits per generated token")
        XCTAssertGreaterThan(head.largest, 1, "no two sessions' logits shared a product")
        XCTAssertLessThan(head.products, head.rows)
    }

    func testFailoverUnderLoadReplaysIdentically() throws {
        let tokens = 16
        let solo = try Self.prompts.map { try SwarmFixtures.localGreedy($0, tokens: tokens) }
        let a = try ServerProcess(["--blocks", "0:15"] + SwarmFixtures.listenArguments("tcp", name: "la"))
        let b = try ServerProcess(["--blocks", "15:30"] + SwarmFixtures.listenArguments("tcp", name: "lb"))
        let replica = try ServerProcess(["--blocks", "15:30"] + SwarmFixtures.listenArguments("tcp", name: "lr"))
        let (generator, backend) = try SwarmFixtures.remoteGenerator(peers: [a.address, b.address, replica.address])
        let lock = NSLock()
        var killed: ServerProcess?
        let results = concurrently(generator, tokens: tokens) { pieces in
            guard pieces == 6 else { return }
            // Kill whichever replica holds more sessions now: its clients all fail over at once.
            let load = [b, replica].map { ((try? backend.directory.connect($0.address).info().openSessions) ?? 0, $0) }
            let busiest = load.max { $0.0 < $1.0 }
            lock.withLock { killed = busiest?.1 }
            busiest?.1.kill(SIGKILL)
        }
        let victim = try XCTUnwrap(lock.withLock { killed })
        XCTAssertEqual(victim.waitForExit(), SIGKILL)
        for i in Self.prompts.indices {
            XCTAssertEqual(try results[i]?.get(), solo[i], "client \(i)")
        }
        XCTAssertTrue(backend.directory.banned.contains(victim.address.description))
    }
}
