import BigInt
import Foundation
import PlumiseChain
@testable import PlumiseDevnet
import PlumiseNode
import XCTest

/// The dev oracle through its HTTP API, with the node's own reporter where it applies.
final class DevOracleTests: XCTestCase {
    private var harness: DevnetHarness!
    private let alice = DevAccounts.account(0)
    private let bob = DevAccounts.account(1)

    override func setUp() async throws { harness = try await DevnetHarness.start() }

    override func tearDown() async throws {
        await harness.stop()
        harness.removeFiles()
    }

    private var oracle: String { harness.endpoints.oracleURL }

    private func report(_ signer: DevAccount, wallet: Address? = nil, tokens: Int = 1500, timestamp: Int? = nil,
                        proofs: [InferenceProof] = []) throws -> OracleReport {
        var report = try OracleReport.signed(by: signer.wallet, tokensProcessed: tokens, avgLatencyMs: 250, uptimeSeconds: 100,
                                             requestCount: 4, timestamp: timestamp ?? harness.clock.now(), proofs: proofs)
        if let wallet { report.wallet = wallet.description }
        return report
    }

    private func post(_ report: OracleReport) async throws -> (status: Int, body: JSONValue) {
        try await HTTP.post(oracle + "/api/v1/metrics/report", report)
    }

    private func assertRejected(_ answer: (status: Int, body: JSONValue), _ status: Int, _ text: String,
                                file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(answer.status, status, "\(answer.body)", file: file, line: line)
        XCTAssertEqual(answer.body["success"], .bool(false), file: file, line: line)
        let message = answer.body["message"]?.string ?? ""
        XCTAssertTrue(message.contains(text), "'\(message)' lacks '\(text)'", file: file, line: line)
    }

    func testTheNodesReporterIsAcceptedScoredAndItsProofsStored() async throws {
        try await harness.register(alice)
        let metrics = MetricsCollector()
        metrics.record(tokens: 30, latencySeconds: 0.4)
        metrics.record(tokens: 10, latencySeconds: 0.6)
        let proofs = (1...2).map { InferenceProof(modelName: "m", input: "in \($0)", output: "out \($0)", agent: alice.address, tokenCount: $0) }
        proofs.forEach(metrics.addProof)
        let reporter = OracleReporter(oracleURL: oracle, wallet: alice.wallet, metrics: metrics, interval: 60)
        let accepted = await reporter.reportOnce()
        XCTAssertTrue(accepted)
        let second = await reporter.reportOnce()
        XCTAssertTrue(second, "the next report has a later timestamp")

        let (status, body) = try await HTTP.get(oracle + "/api/v1/metrics/agents/\(alice.address)")
        XCTAssertEqual(status, 200)
        XCTAssertEqual(body["address"], .string(alice.address.description))
        XCTAssertEqual(body["tokensProcessed"]?.number, 40)
        XCTAssertEqual(body["requestCount"]?.number, 2)
        XCTAssertEqual(body["avgLatencyMs"]?.number, 500)
        XCTAssertEqual(body["reports"]?.number, 2)
        let uptime = try XCTUnwrap(body["uptimeSeconds"]?.number)
        XCTAssertEqual(body["score"]?.number, Scoring.score(tokensProcessed: 40, requestCount: 2, uptimeSeconds: Int(uptime), avgLatencyMs: 500))

        let stored = try await HTTP.get(oracle + "/api/v1/proofs/\(alice.address.lowercased)")
        XCTAssertEqual(stored.body["count"]?.number, 2)
        let hashes = Set(stored.body["proofs"]?.array?.compactMap { $0["proofHash"]?.string } ?? [])
        XCTAssertEqual(hashes, Set(proofs.map { Hex.encode($0.proofHash) }))
        let limited = try await HTTP.get(oracle + "/api/v1/proofs/\(alice.address)?limit=1")
        XCTAssertEqual(limited.body["count"]?.number, 1)

        let nodes = try await HTTP.get(oracle + "/api/nodes")
        XCTAssertEqual(nodes.body["count"]?.number, 1)
        XCTAssertEqual(nodes.body["nodes"]?.array?.first?["address"], .string(alice.address.description))

        let unknown = try await HTTP.get(oracle + "/api/v1/metrics/agents/\(bob.address)")
        XCTAssertEqual(unknown.body["metrics"], .null)
        let health = try await HTTP.get(oracle + "/health")
        XCTAssertEqual(health.status, 200, "\(health.body)")
    }

    func testABadSignatureIsRejected() async throws {
        try await harness.register(alice)
        // Alice's canonical message signed by bob.
        var forged = try report(alice)
        forged.signature = try bob.wallet.personalSign(forged.canonicalMessage).hex
        assertRejected(try await post(forged), 401, "the signature is by \(bob.address), not \(alice.address)")
        // Bob's signed report with alice's address put in: the signed text no longer matches.
        assertRejected(try await post(try report(bob, wallet: alice.address)), 401, "not \(alice.address)")
        // Signed by alice, but the counters were changed after signing.
        var tampered = try report(alice)
        tampered.tokensProcessed += 1
        assertRejected(try await post(tampered), 401, "invalid signature")
        var garbage = try report(alice)
        garbage.signature = "0x1234"
        assertRejected(try await post(garbage), 401, "invalid signature")
        let metrics = try await HTTP.get(oracle + "/api/v1/metrics/agents/\(alice.address)")
        XCTAssertEqual(metrics.body["metrics"], .null, "nothing stored")
    }

    func testTimestampsOutsideTheWindowAreRejected() async throws {
        try await harness.register(alice)
        let now = harness.clock.now()
        assertRejected(try await post(try report(alice, timestamp: now - 61)), 401, "the limit is 60 s")
        assertRejected(try await post(try report(alice, timestamp: now + 61)), 401, "the limit is 60 s")
        let withinWindow = try await post(try report(alice, timestamp: now - 50))
        XCTAssertEqual(withinWindow.status, 201, "\(withinWindow.body)")
    }

    func testReplayedAndNonIncreasingTimestampsAreRejected() async throws {
        try await harness.register(alice)
        let now = harness.clock.now()
        let first = try report(alice, timestamp: now)
        let firstReport = try await post(first)
        XCTAssertEqual(firstReport.status, 201, "\(firstReport.body)")
        assertRejected(try await post(first), 400, "replay detected: timestamp \(now) is not greater than the last accepted \(now)")
        assertRejected(try await post(try report(alice, tokens: 9, timestamp: now - 1)), 400, "replay detected")
        let later = try await post(try report(alice, tokens: 9, timestamp: now + 1))
        XCTAssertEqual(later.status, 201, "\(later.body)")
    }

    func testUnregisteredAgentsAreRejected() async throws {
        assertRejected(try await post(try report(bob)), 403, "is not registered on chain")
        let reporter = OracleReporter(oracleURL: oracle, wallet: bob.wallet, metrics: MetricsCollector(), interval: 60)
        let accepted = await reporter.reportOnce()
        XCTAssertFalse(accepted)
    }

    func testMalformedReportsAndForeignProofsAreRejected() async throws {
        try await harness.register(alice)
        let answer = try await HTTP.request("POST", oracle + "/api/v1/metrics/report", json: Data(#"{"wallet": 3}"#.utf8))
        assertRejected(answer, 400, "malformed request")
        let foreign = InferenceProof(modelName: "m", input: "a", output: "b", agent: bob.address, tokenCount: 1)
        assertRejected(try await post(try report(alice, proofs: [foreign])), 400, "a proof names agent \(bob.address)")
    }

    func testScoringFollowsTheV2Formula() {
        // tokens/1000×40 + requests×25 + uptime×20 + max(0, 10000 − latency)×15
        XCTAssertEqual(Scoring.score(tokensProcessed: 2500, requestCount: 4, uptimeSeconds: 100, avgLatencyMs: 250),
                       100 + 100 + 2000 + 146_250)
        XCTAssertEqual(Scoring.score(tokensProcessed: 0, requestCount: 0, uptimeSeconds: 0, avgLatencyMs: 12_000), 0)
        XCTAssertEqual(Scoring.score(tokensProcessed: 1000, requestCount: 1, uptimeSeconds: 1, avgLatencyMs: 9_999.5),
                       40 + 25 + 20 + 7.5)
    }

    func testTopologySplitsLayersInProportionToMemory() async throws {
        XCTAssertEqual(Topology.split(totalLayers: 30, weights: [8192, 8192]), [0..<15, 15..<30])
        XCTAssertEqual(Topology.split(totalLayers: 30, weights: [16384, 8192]), [0..<20, 20..<30])
        XCTAssertEqual(Topology.split(totalLayers: 30, weights: [24000, 8000]), [0..<23, 23..<30])
        XCTAssertEqual(Topology.split(totalLayers: 4, weights: [1000, 1, 1]), [0..<2, 2..<3, 3..<4], "everyone gets a layer")
        XCTAssertEqual(Topology.split(totalLayers: 30, weights: [5]), [0..<30])
        XCTAssertEqual(Topology.weight(device: "cuda", ramMb: 64000, vramMb: 24000), 24000)
        XCTAssertEqual(Topology.weight(device: "cpu", ramMb: 64000, vramMb: 24000), 64000)

        try await harness.register(alice)
        try await harness.register(bob)
        let client = PipelineClient(oracleURL: oracle)
        let model = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
        func registration(_ account: DevAccount, ram: Int, port: Int) throws -> PipelineRegistration {
            try PipelineRegistration.signed(by: account.wallet, grpcEndpoint: "tcp://127.0.0.1:\(port)",
                                            httpEndpoint: "http://127.0.0.1:\(port + 1)", model: model, ramMb: ram,
                                            timestamp: harness.clock.now())
        }
        let first = try await client.register(try registration(alice, ram: 24000, port: 4000))
        XCTAssertEqual(first, PipelineClient.Assignment(layerStart: 0, layerEnd: 30, totalLayers: 30), "SmolLM2 has 30 blocks")
        let second = try await client.register(try registration(bob, ram: 8000, port: 5000))
        XCTAssertEqual(second, PipelineClient.Assignment(layerStart: 23, layerEnd: 30, totalLayers: 30))
        try await client.ready(try PipelineReady.signed(by: bob.wallet, model: model, timestamp: harness.clock.now()))

        let nodes = try await client.topology(model: model)
        XCTAssertEqual(nodes.map(\.nodeAddress), [alice.address.lowercased, bob.address.lowercased])
        XCTAssertEqual(nodes.map { $0.layerStart..<$0.layerEnd }, [0..<23, 23..<30])
        XCTAssertEqual(nodes.map(\.ready), [false, true])
        XCTAssertEqual(nodes.map(\.pipelineOrder), [0, 1])
        let other = try await client.topology(model: "another-model")
        XCTAssertTrue(other.isEmpty)
        let listed = try await HTTP.get(oracle + "/api/nodes")
        XCTAssertEqual(Set(listed.body["nodes"]?.array?.compactMap { $0["endpoint"]?.string } ?? []),
                       ["http://127.0.0.1:4001", "http://127.0.0.1:5001"])
        let missing = try await HTTP.get(oracle + "/api/v1/pipeline/topology")
        XCTAssertEqual(missing.status, 400)
    }

    func testPipelineRequestsAreVerifiedLikeReports() async throws {
        try await harness.register(alice)
        let client = PipelineClient(oracleURL: oracle)
        let now = harness.clock.now()
        let good = try PipelineRegistration.signed(by: alice.wallet, grpcEndpoint: "tcp://127.0.0.1:1", httpEndpoint: "http://127.0.0.1:2",
                                                   model: "m", ramMb: 1000, timestamp: now, totalLayers: 8)
        func refusal(_ body: () async throws -> Void) async -> PipelineClient.Failure? {
            do { try await body(); return nil } catch let failure as PipelineClient.Failure { return failure } catch { return nil }
        }
        var forged = good
        forged.ramMb = 999_999
        guard case .refused(401, _)? = await refusal({ _ = try await client.register(forged) }) else { return XCTFail("forged") }
        // Like plumise-oracle (which sponsors their registration), agents not yet on chain may join a pipeline.
        let newcomer = try PipelineRegistration.signed(by: bob.wallet, grpcEndpoint: "tcp://a:1", httpEndpoint: "http://a:2",
                                                       model: "m2", ramMb: 1, timestamp: now, totalLayers: 2)
        let joined = try await client.register(newcomer)
        XCTAssertEqual(joined, PipelineClient.Assignment(layerStart: 0, layerEnd: 2, totalLayers: 2))
        let same = try PipelineRegistration.signed(by: alice.wallet, grpcEndpoint: "http://a:1", httpEndpoint: "http://a:1",
                                                   model: "m", ramMb: 1, timestamp: now)
        guard case .refused(400, _)? = await refusal({ _ = try await client.register(same) }) else { return XCTFail("same endpoints") }
        let stale = try PipelineReady.signed(by: alice.wallet, model: "m", timestamp: now - 120)
        guard case .refused(401, _)? = await refusal({ try await client.ready(stale) }) else { return XCTFail("stale") }
        let early = try PipelineReady.signed(by: alice.wallet, model: "m", timestamp: now)
        guard case .refused(400, let why)? = await refusal({ try await client.ready(early) }) else { return XCTFail("unknown node") }
        XCTAssertTrue(why.contains("has not registered"))

        let assignment = try await client.register(good)
        XCTAssertEqual(assignment, PipelineClient.Assignment(layerStart: 0, layerEnd: 8, totalLayers: 8))
        guard case .refused(400, let replay)? = await refusal({ _ = try await client.register(good) }) else { return XCTFail("replay") }
        XCTAssertTrue(replay.contains("replay detected"))
    }

    func testEpochsReportContributionsAndRewardsCanBeClaimed() async throws {
        try await harness.register(alice)
        let proof = InferenceProof(modelName: "m", input: "q", output: "a", agent: alice.address, tokenCount: 5)
        let withProof = try await post(try report(alice, proofs: [proof]))
        XCTAssertEqual(withProof.status, 201, "\(withProof.body)")
        let epochs = harness.epochReporter()

        let round = try await epochs.runOnce()
        XCTAssertEqual(round.reported, [alice.address])
        XCTAssertEqual(round.distributed, [], "epoch 0 is still running")
        let rewards = RewardTracker(agent: harness.agent(alice), claimThreshold: PLMUnit.wei)
        let contribution = try await rewards.contribution()
        XCTAssertEqual(contribution.taskCount, 1, "one proof")
        XCTAssertEqual(contribution.uptimeSeconds, 100)
        XCTAssertEqual(contribution.responseScore,
                       BigUInt(Scoring.score(tokensProcessed: 1500, requestCount: 4, uptimeSeconds: 100, avgLatencyMs: 250)))
        let quiet = try await epochs.runOnce()
        XCTAssertEqual(quiet.reported, [], "nothing new to report")

        harness.clock.advance(3600)
        let next = try await epochs.runOnce()
        XCTAssertEqual(next.distributed, [0])
        let pending = try await rewards.pendingReward()
        XCTAssertEqual(pending, harness.devnet.chain.config.epochReward, "the only contributor gets the whole epoch")

        let before = try await harness.rpc.balance(of: alice.address)
        let outcome = try await rewards.claimIfDue()
        guard case .claimed(let amount, let receipt) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(amount, pending)
        let after = try await harness.rpc.balance(of: alice.address)
        XCTAssertEqual(after, before + amount - receipt.gasUsed * BigUInt(1_000_000_000))
        XCTAssertGreaterThan(after, before)
    }

    func testOracleStatePersistsAcrossARestart() async throws {
        try await harness.register(alice)
        let now = harness.clock.now()
        let proof = InferenceProof(modelName: "m", input: "q", output: "a", agent: alice.address, tokenCount: 5)
        let answer6 = try await post(try report(alice, timestamp: now, proofs: [proof]))
        XCTAssertEqual(answer6.status, 201, "\(answer6.body)")
        let registration = try PipelineRegistration.signed(by: alice.wallet, grpcEndpoint: "tcp://127.0.0.1:1",
                                                           httpEndpoint: "http://127.0.0.1:2", model: "m", ramMb: 1,
                                                           timestamp: now, totalLayers: 4)
        _ = try await PipelineClient(oracleURL: oracle).register(registration)
        let directory = harness.directory, clock = harness.clock
        await harness.stop()

        harness = try await DevnetHarness.start(directory: directory, clock: clock)
        let metrics = try await HTTP.get(harness.endpoints.oracleURL + "/api/v1/metrics/agents/\(alice.address)")
        XCTAssertEqual(metrics.body["tokensProcessed"]?.number, 1500)
        let proofs = try await HTTP.get(harness.endpoints.oracleURL + "/api/v1/proofs/\(alice.address)")
        XCTAssertEqual(proofs.body["count"]?.number, 1)
        assertRejected(try await HTTP.post(harness.endpoints.oracleURL + "/api/v1/metrics/report", try report(alice, timestamp: now)),
                       400, "replay detected")
        let topology = try await PipelineClient(oracleURL: harness.endpoints.oracleURL).topology(model: "m")
        XCTAssertEqual(topology.map(\.nodeAddress), [alice.address.lowercased])
    }
}
