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

    /// NestJS's error body: {statusCode, message, error}.
    private func assertRejected(_ answer: (status: Int, body: JSONValue), _ status: Int, _ text: String,
                                file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(answer.status, status, "\(answer.body)", file: file, line: line)
        XCTAssertEqual(answer.body["statusCode"]?.number, Double(status), file: file, line: line)
        let message = answer.body["message"]?.string ?? answer.body["message"]?.array?.compactMap(\.string).joined(separator: "; ") ?? ""
        XCTAssertTrue(message.contains(text), "'\(message)' lacks '\(text)'", file: file, line: line)
    }

    func testTheNodesReporterIsAcceptedAndItsProofsStored() async throws {
        try await harness.register(alice)
        let metrics = MetricsCollector()
        metrics.record(tokens: 30, latencySeconds: 0.4)
        metrics.record(tokens: 10, latencySeconds: 0.6)
        let proofs = (1...2).map { InferenceProof(modelName: "m", input: "in \($0)", output: "out \($0)", agent: alice.address, tokenCount: $0) }
        proofs.forEach(metrics.addProof)
        let reporter = OracleReporter(oracleURL: oracle, wallet: alice.wallet, metrics: metrics, interval: 60)
        let accepted = await reporter.reportOnce()
        XCTAssertEqual(accepted, .accepted)
        let second = await reporter.reportOnce()
        XCTAssertEqual(second, .accepted, "the next report has a later timestamp")

        let (status, body) = try await HTTP.get(oracle + "/api/v1/metrics/agents/\(alice.address)")
        XCTAssertEqual(status, 200)
        XCTAssertEqual(body["address"], .string(alice.address.description))
        XCTAssertEqual(body["tokensProcessed"]?.number, 40)
        XCTAssertEqual(body["requestCount"]?.number, 2)
        XCTAssertEqual(body["avgLatencyMs"]?.number, 500)
        XCTAssertEqual(body["reports"]?.number, 2)

        let stored = try await HTTP.get(oracle + "/api/v1/proofs/\(alice.address.lowercased)")
        XCTAssertEqual(stored.body["count"]?.number, 2)
        let inputs = Set(stored.body["proofs"]?.array?.compactMap { $0["inputHash"]?.string } ?? [])
        XCTAssertEqual(inputs, Set(proofs.map { Hex.encode($0.inputHash) }))
        XCTAssertEqual(stored.body["proofs"]?.array?.first?["tokenCount"], .string("2"), "a bigint column: a string")
        let limited = try await HTTP.get(oracle + "/api/v1/proofs/\(alice.address)?limit=1")
        XCTAssertEqual(limited.body["count"]?.number, 1)

        // A reporting agent is an active node (ensureNodeRegistered), without an endpoint yet.
        let nodes = try await HTTP.get(oracle + "/api/nodes")
        XCTAssertEqual(nodes.body["count"]?.number, 1)
        XCTAssertEqual(nodes.body["nodes"]?.array?.first?["address"], .string(alice.address.lowercased))
        XCTAssertEqual(nodes.body["nodes"]?.array?.first?["endpoint"], .string(""))

        let unknown = try await HTTP.get(oracle + "/api/v1/metrics/agents/\(bob.address)")
        XCTAssertEqual(unknown.body["metrics"], .null)
        let health = try await HTTP.get(oracle + "/health")
        XCTAssertEqual(health.status, 200, "\(health.body)")
    }

    /// metrics.service.ts verifySignature: any signature or window failure is 401 "Invalid signature".
    func testABadSignatureIsRejected() async throws {
        try await harness.register(alice)
        var forged = try report(alice)
        forged.signature = try bob.wallet.personalSign(forged.canonicalMessage).hex
        assertRejected(try await post(forged), 401, "Invalid signature")
        assertRejected(try await post(try report(bob, wallet: alice.address)), 401, "Invalid signature")
        var tampered = try report(alice)
        tampered.tokensProcessed += 1
        assertRejected(try await post(tampered), 401, "Invalid signature")
        var garbage = try report(alice)
        garbage.signature = "0x1234"
        assertRejected(try await post(garbage), 401, "Invalid signature")
        let metrics = try await HTTP.get(oracle + "/api/v1/metrics/agents/\(alice.address)")
        XCTAssertEqual(metrics.body["metrics"], .null, "nothing stored")
    }

    func testTimestampsOutsideTheWindowAreRejected() async throws {
        try await harness.register(alice)
        let now = harness.clock.now()
        assertRejected(try await post(try report(alice, timestamp: now - 61)), 401, "Invalid signature")
        assertRejected(try await post(try report(alice, timestamp: now + 61)), 401, "Invalid signature")
        let withinWindow = try await post(try report(alice, timestamp: now - 50))
        XCTAssertEqual(withinWindow.status, 201, "\(withinWindow.body)")
    }

    func testReplayedAndNonIncreasingTimestampsAreRejected() async throws {
        try await harness.register(alice)
        let now = harness.clock.now()
        let first = try report(alice, timestamp: now)
        let firstReport = try await post(first)
        XCTAssertEqual(firstReport.status, 201, "\(firstReport.body)")
        XCTAssertEqual(firstReport.body["shouldReset"], .bool(true), "the agent's first report")
        assertRejected(try await post(first), 400, "Replay detected: timestamp must be strictly increasing")
        assertRejected(try await post(try report(alice, tokens: 9, timestamp: now - 1)), 400, "Replay detected")
        let later = try await post(try report(alice, tokens: 9, timestamp: now + 1))
        XCTAssertEqual(later.status, 201, "\(later.body)")
        XCTAssertEqual(later.body["shouldReset"], .bool(false))
    }

    /// metrics.service.ts recordMetrics: 400 "Agent not registered on-chain" (BadRequestException).
    func testUnregisteredAgentsAreRejected() async throws {
        assertRejected(try await post(try report(bob)), 400, "Agent not registered on-chain")
        // The node's reporter does not send before its agent is registered, keeping its proofs.
        let metrics = MetricsCollector()
        metrics.addProof(InferenceProof(modelName: "m", input: "a", output: "b", agent: bob.address, tokenCount: 1))
        let waiting = OracleReporter(oracleURL: oracle, wallet: bob.wallet, metrics: metrics, interval: 60, isRegistered: { false })
        let skipped = await waiting.reportOnce()
        XCTAssertEqual(skipped, .notRegistered)
        XCTAssertEqual(metrics.snapshot().pendingProofs, 1)
        // Sent anyway, the refusal drops the proofs with the oracle's message.
        let eager = OracleReporter(oracleURL: oracle, wallet: bob.wallet, metrics: metrics, interval: 60)
        let refused = await eager.reportOnce()
        XCTAssertEqual(refused, .refused(status: 400, message: "Agent not registered on-chain"))
        XCTAssertEqual(metrics.snapshot().pendingProofs, 0)
        XCTAssertEqual(metrics.snapshot().proofsRefused, 1)
    }

    func testScoringFollowsTheV2Formula() {
        // tokens/1000×40 + requests×25 + uptime×20 + max(0, 10000 − latency)×15
        XCTAssertEqual(Scoring.score(tokensProcessed: 2500, requestCount: 4, uptimeSeconds: 100, avgLatencyMs: 250),
                       100 + 100 + 2000 + 146_250)
        XCTAssertEqual(Scoring.score(tokensProcessed: 0, requestCount: 0, uptimeSeconds: 0, avgLatencyMs: 12_000), 0)
        XCTAssertEqual(Scoring.score(tokensProcessed: 1000, requestCount: 1, uptimeSeconds: 1, avgLatencyMs: 9_999.5),
                       40 + 25 + 20 + 7.5)
    }

    /// pipeline.service.ts assignLayers: Math.round shares of MODEL_LAYERS (32 for unknown models).
    func testTopologySplitsLayersInProportionToMemory() async throws {
        XCTAssertEqual(Topology.split(totalLayers: 32, weights: [8192, 8192]), [0..<16, 16..<32])
        XCTAssertEqual(Topology.split(totalLayers: 30, weights: [16384, 8192]), [0..<20, 20..<30])
        XCTAssertEqual(Topology.split(totalLayers: 32, weights: [24000, 8000]), [0..<24, 24..<32])
        XCTAssertEqual(Topology.split(totalLayers: 32, weights: [5]), [0..<32])
        XCTAssertEqual(Topology.weight(device: "cuda", ramMb: 64000, vramMb: 24000), 24000)
        XCTAssertEqual(Topology.weight(device: "cpu", ramMb: 64000, vramMb: 24000), 64000)
        XCTAssertEqual(Topology.totalLayers(model: "qwen/qwen3-32b"), 64)
        XCTAssertEqual(Topology.totalLayers(model: "Qwen/Qwen3-32B"), 32, "an exact-key lookup, as in plumise-oracle")

        try await harness.register(alice)
        try await harness.register(bob)
        let client = OracleClient(oracleURL: oracle)
        let model = "HuggingFaceTB/SmolLM2-135M-Instruct"
        func registration(_ account: DevAccount, ram: Int, port: Int) throws -> PipelineRegistration {
            try PipelineRegistration.signed(by: account.wallet, grpcEndpoint: "http://127.0.0.1:\(port)",
                                            httpEndpoint: "http://127.0.0.1:\(port + 1)", model: model, ramMb: ram,
                                            timestamp: harness.clock.now())
        }
        let first = try await client.register(try registration(alice, ram: 24000, port: 4000))
        XCTAssertEqual(first, OracleClient.Assignment(layerStart: 0, layerEnd: 32, totalLayers: 32), "the oracle does not know SmolLM2")
        XCTAssertEqual(first.scaled(toBlocks: 30), 0..<30)
        let second = try await client.register(try registration(bob, ram: 8000, port: 5000))
        XCTAssertEqual(second, OracleClient.Assignment(layerStart: 24, layerEnd: 32, totalLayers: 32))
        XCTAssertEqual(second.scaled(toBlocks: 30), 23..<30)
        try await client.ready(try PipelineReady.signed(by: bob.wallet, model: model, timestamp: harness.clock.now()))

        let nodes = try await client.topology(model: model)
        XCTAssertEqual(nodes.map(\.nodeAddress), [alice.address.lowercased, bob.address.lowercased])
        XCTAssertEqual(nodes.map { $0.layerStart..<$0.layerEnd }, [0..<24, 24..<32])
        XCTAssertEqual(nodes.map(\.ready), [false, true])
        XCTAssertEqual(nodes.map(\.pipelineOrder), [0, 1])
        XCTAssertEqual(nodes.map(\.ramMb), [24000, 8000])
        let raw = try await HTTP.get(oracle + "/api/v1/pipeline/topology?model=\(model)")
        let entry = try XCTUnwrap(raw.body["nodes"]?.array?.first)
        XCTAssertEqual(entry["ramMb"], .string("24000"), "bigint columns reach JSON as strings")
        XCTAssertNotNil(entry["createdAt"]?.string.flatMap { ISO8601DateFormatter.withFractions.date(from: $0) }, "ISO dates")
        let other = try await client.topology(model: "another-model")
        XCTAssertTrue(other.isEmpty)
        let missing = try await HTTP.get(oracle + "/api/v1/pipeline/topology")
        assertRejected(missing, 400, "Model parameter is required")
    }

    func testPipelineRequestsAreVerifiedLikeTheRealOracle() async throws {
        try await harness.register(alice)
        let client = OracleClient(oracleURL: oracle)
        let now = harness.clock.now()
        let good = try PipelineRegistration.signed(by: alice.wallet, grpcEndpoint: "http://127.0.0.1:1", httpEndpoint: "http://127.0.0.1:2",
                                                   model: "m", ramMb: 1000, timestamp: now)
        func refusal(_ body: () async throws -> Void) async -> OracleClient.Failure? {
            do { try await body(); return nil } catch let failure as OracleClient.Failure { return failure } catch { return nil }
        }
        var forged = good
        forged.ramMb = 999_999
        guard case .refused(400, "Invalid signature")? = await refusal({ _ = try await client.register(forged) }) else {
            return XCTFail("forged")
        }
        let same = try PipelineRegistration.signed(by: alice.wallet, grpcEndpoint: "http://a.example.com:1", httpEndpoint: "http://a.example.com:1",
                                                   model: "m", ramMb: 1, timestamp: now)
        guard case .refused(400, "Pipeline nodes must have separate gRPC and HTTP endpoints")? = await refusal({ _ = try await client.register(same) })
        else { return XCTFail("same endpoints") }
        let stale = try PipelineReady.signed(by: alice.wallet, model: "m", timestamp: now - 120)
        guard case .refused(400, "Invalid signature")? = await refusal({ try await client.ready(stale) }) else { return XCTFail("stale") }
        let early = try PipelineReady.signed(by: alice.wallet, model: "m", timestamp: now)
        guard case .refused(400, "Pipeline node not found")? = await refusal({ try await client.ready(early) }) else {
            return XCTFail("unknown node")
        }

        let assignment = try await client.register(good)
        XCTAssertEqual(assignment, OracleClient.Assignment(layerStart: 0, layerEnd: 32, totalLayers: 32))
        guard case .refused(400, "Replay detected: timestamp must be strictly increasing")? = await refusal({ _ = try await client.register(good) })
        else { return XCTFail("replay") }
    }

    /// pipeline.service.ts registerNode sponsors agents not on chain: 0x21 from the oracle with a
    /// beneficiary word (chain.service.ts sponsorRegisterAgent).
    func testAPipelineNewcomerIsSponsorRegisteredOnChain() async throws {
        let client = OracleClient(oracleURL: oracle)
        let isAgentBefore = try await harness.rpc.isAgentAccount(bob.address)
        XCTAssertFalse(isAgentBefore)
        let newcomer = try PipelineRegistration.signed(by: bob.wallet, grpcEndpoint: "http://10.0.0.1:1", httpEndpoint: "http://10.0.0.1:2",
                                                       model: "qwen/qwen3-32b", ramMb: 1, timestamp: harness.clock.now())
        let joined = try await client.register(newcomer)
        XCTAssertEqual(joined, OracleClient.Assignment(layerStart: 0, layerEnd: 64, totalLayers: 64))
        let isAgent = try await harness.rpc.isAgentAccount(bob.address)
        XCTAssertTrue(isAgent)
        let meta = try await harness.rpc.agentMeta(bob.address)
        XCTAssertEqual(meta["name"], .string("plumise-agent"))
        XCTAssertEqual(meta["modelHash"], .string(Hex.encode(Keccak.hash256("qwen/qwen3-32b"))))
    }

    func testEpochsReportContributionsAndTheOracleSponsorsTheClaim() async throws {
        try await harness.register(alice)
        let proof = InferenceProof(modelName: "m", input: "q", output: "a", agent: alice.address, tokenCount: 5)
        let withProof = try await post(try report(alice, proofs: [proof]))
        XCTAssertEqual(withProof.status, 201, "\(withProof.body)")
        let epochs = harness.epochReporter()

        let round = try await epochs.runOnce()
        XCTAssertEqual(round.reported, [alice.address])
        XCTAssertEqual(round.distributed, [], "epoch 0 is still running")
        let rewards = RewardTracker(agent: harness.agent(alice))
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

        // The oracle's hourly cycle (monitor.service.ts) claims it through 0x23 for an active
        // node (one that reported in the last 10 minutes), paying the gas: the agent gets it all.
        let fresh = try await post(try report(alice))
        XCTAssertEqual(fresh.status, 201, "\(fresh.body)")
        let before = try await harness.rpc.balance(of: alice.address)
        let claimed = await harness.sponsorJobs().claimRewards()
        XCTAssertEqual(claimed, [alice.address])
        let after = try await harness.rpc.balance(of: alice.address)
        XCTAssertEqual(after, before + pending)
        let left = try await rewards.pendingReward()
        XCTAssertEqual(left, 0)
        let status = try await harness.rpc.agentStatus(alice.address)
        XCTAssertEqual(status.totalRewards, pending)
        let again = await harness.sponsorJobs().claimRewards()
        XCTAssertEqual(again, [], "nothing pending: no transaction")
    }

    func testOracleStatePersistsAcrossARestart() async throws {
        try await harness.register(alice)
        let now = harness.clock.now()
        let proof = InferenceProof(modelName: "m", input: "q", output: "a", agent: alice.address, tokenCount: 5)
        let answer6 = try await post(try report(alice, timestamp: now, proofs: [proof]))
        XCTAssertEqual(answer6.status, 201, "\(answer6.body)")
        let registration = try PipelineRegistration.signed(by: alice.wallet, grpcEndpoint: "http://127.0.0.1:1",
                                                           httpEndpoint: "http://127.0.0.1:2", model: "m", ramMb: 1, timestamp: now)
        _ = try await OracleClient(oracleURL: oracle).register(registration)
        let directory = harness.directory, clock = harness.clock
        await harness.stop()

        harness = try await DevnetHarness.start(directory: directory, clock: clock)
        let metrics = try await HTTP.get(harness.endpoints.oracleURL + "/api/v1/metrics/agents/\(alice.address)")
        XCTAssertEqual(metrics.body["tokensProcessed"]?.number, 1500)
        let proofs = try await HTTP.get(harness.endpoints.oracleURL + "/api/v1/proofs/\(alice.address)")
        XCTAssertEqual(proofs.body["count"]?.number, 1)
        assertRejected(try await HTTP.post(harness.endpoints.oracleURL + "/api/v1/metrics/report", try report(alice, timestamp: now)),
                       400, "Replay detected")
        let topology = try await OracleClient(oracleURL: harness.endpoints.oracleURL).topology(model: "m")
        XCTAssertEqual(topology.map(\.nodeAddress), [alice.address.lowercased])
    }
}

extension ISO8601DateFormatter {
    static var withFractions: ISO8601DateFormatter {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }
}
