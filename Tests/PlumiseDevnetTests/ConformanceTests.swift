import BigInt
import Foundation
import PlumiseChain
@testable import PlumiseDevnet
@testable import PlumiseNode
import XCTest

/// The node's own messages against the devnet, case by case, where each case reproduces a rule
/// of the real Plumise services (the repository and file are named). The devnet follows those
/// rules (its code cites them too), so a node that passes here speaks what the real chain and
/// oracle accept.
final class ConformanceTests: XCTestCase {
    private var harness: DevnetHarness!
    private let alice = DevAccounts.account(0)
    private let bob = DevAccounts.account(1)

    override func setUp() async throws { harness = try await DevnetHarness.start() }

    override func tearDown() async throws {
        await harness.stop()
        harness.removeFiles()
    }

    private var oracle: String { harness.endpoints.oracleURL }

    private func messages(_ body: JSONValue?) -> [String] {
        body?["message"]?.array?.compactMap(\.string) ?? body?["message"]?.string.map { [$0] } ?? []
    }

    // MARK: 1. agent_* parameters

    /// mikusnuz/plumise-contracts test/e2e/TEST_RESULTS.md ("RPC Method Issues"): a one-parameter
    /// agent_isAgentAccount / agent_getAgentMeta is answered "missing value for required argument 1";
    /// mikusnuz/plumise-oracle src/modules/nodes/nodes.service.ts passes [address, "latest"].
    func testAgentQueriesTakeTheAddressAndABlock() async throws {
        for method in ["agent_isAgentAccount", "agent_getAgentMeta"] {
            do {
                _ = try await harness.rpc.client.call(method, [.string(alice.address.description)])
                XCTFail("\(method) with one parameter must be refused")
            } catch RPCError.node(_, let code, let message) {
                XCTAssertEqual(code, -32602)
                XCTAssertEqual(message, "missing value for required argument 1")
            }
        }
        // The node's client registers (it asks agent_isAgentAccount first) and reads the status.
        try await harness.register(alice, name: "conformance")
        let isAgent = try await harness.rpc.isAgentAccount(alice.address)
        XCTAssertTrue(isAgent)
        // TEST_RESULTS.md "Agent State": exactly these keys, quantities in hex, no status word.
        let raw = try await harness.rpc.client.call("agent_getStatus", [.string(alice.address.description)])
        XCTAssertEqual(Set(raw.object?.keys ?? [:].keys),
                       ["address", "registered", "active", "nodeId", "lastHeartbeat", "registeredAt", "totalRewards", "metadata"])
        XCTAssertEqual(raw["lastHeartbeat"], .string("0x0"))
        let status = try await harness.rpc.agentStatus(alice.address)
        XCTAssertTrue(status.registered && status.active)
        XCTAssertEqual(status.metadata, "conformance")
    }

    // MARK: 2. The report and its proofs

    /// plumise-oracle src/main.ts (ValidationPipe: whitelist + forbidNonWhitelisted) with
    /// src/modules/metrics/dto/report-metrics.dto.ts and src/modules/proof/dto/inference-proof.dto.ts.
    func testReportsAndProofsCarryExactlyTheDTOsKeys() async throws {
        try await harness.register(alice)
        let proof = InferenceProof(modelName: "HuggingFaceTB/SmolLM2-135M-Instruct", input: "q", output: "a", agent: alice.address,
                                   tokenCount: 3)
        let report = try OracleReport.signed(by: alice.wallet, tokensProcessed: 3, avgLatencyMs: 10, uptimeSeconds: 5, requestCount: 1,
                                             timestamp: harness.clock.now(), proofs: [proof])
        let json = try JSONDecoder().decode(JSONValue.self, from: try JSONEncoder().encode(report))
        XCTAssertEqual(Set(json.object?.keys ?? [:].keys),
                       ["wallet", "tokensProcessed", "avgLatencyMs", "uptimeSeconds", "requestCount", "timestamp", "signature", "proofs"])
        XCTAssertEqual(Set(json["proofs"]?.array?.first?.object?.keys ?? [:].keys), ["modelHash", "inputHash", "outputHash", "tokenCount"])
        XCTAssertTrue(OracleDTOs.reportMetrics.validate(json).isEmpty)
        let accepted = try await HTTP.post(oracle + "/api/v1/metrics/report", report)
        XCTAssertEqual(accepted.status, 201, "\(accepted.body)")

        // What the old node sent: the agent and a proof hash inside each proof, refused whole.
        var extended = json
        if case .object(var body) = extended, case .array(var proofs)? = body["proofs"], case .object(var first) = proofs[0] {
            first["agentAddress"] = .string(alice.address.description)
            first["proofHash"] = .string("0x" + String(repeating: "ab", count: 32))
            proofs[0] = .object(first)
            body["proofs"] = .array(proofs)
            body["extra"] = .bool(true)
            extended = .object(body)
        }
        let refused = try await HTTP.request("POST", oracle + "/api/v1/metrics/report", json: try JSONEncoder().encode(extended))
        XCTAssertEqual(refused.status, 400)
        XCTAssertEqual(refused.body["error"], .string("Bad Request"))
        XCTAssertEqual(Set(messages(refused.body)), ["property extra should not exist", "proofs.0.property agentAddress should not exist",
                                                      "proofs.0.property proofHash should not exist"])
    }

    /// A refused report drops its proofs (they would be refused again, and every report after
    /// them); only network errors and 5xx keep them. The oracle's message reaches the log.
    func testARefusedReportDoesNotPoisonTheReportsAfterIt() async throws {
        try await harness.register(alice)
        let metrics = MetricsCollector()
        let reporter = OracleReporter(oracleURL: oracle, wallet: alice.wallet, metrics: metrics, interval: 60)
        // A report the oracle refuses: its timestamp is in the future (401 "Invalid signature").
        harness.clock.advance(-120)
        metrics.addProof(InferenceProof(modelName: "m", input: "a", output: "b", agent: alice.address, tokenCount: 2))
        let refused = await reporter.reportOnce()
        XCTAssertEqual(refused, .refused(status: 401, message: "Invalid signature"))
        XCTAssertEqual(metrics.snapshot().proofsRefused, 1)
        harness.clock.advance(120)
        metrics.addProof(InferenceProof(modelName: "m", input: "c", output: "d", agent: alice.address, tokenCount: 2))
        let next = await reporter.reportOnce()
        XCTAssertEqual(next, .accepted, "the next report carries only its own proof")
        let stored = try await HTTP.get(oracle + "/api/v1/proofs/\(alice.address)")
        XCTAssertEqual(stored.body["count"]?.number, 1)
        // An oracle that is down keeps the proofs for the next report.
        let down = OracleReporter(oracleURL: "http://127.0.0.1:1", wallet: alice.wallet, metrics: metrics, interval: 60)
        metrics.addProof(InferenceProof(modelName: "m", input: "e", output: "f", agent: alice.address, tokenCount: 2))
        guard case .failed = await down.reportOnce() else { return XCTFail("expected a network failure") }
        XCTAssertEqual(metrics.snapshot().pendingProofs, 1)
    }

    // MARK: 3. Zero-token generations

    /// inference-proof.dto.ts: tokenCount @Min(1).
    func testAGenerationOfNoTokensMakesNoProof() async throws {
        try await harness.register(alice)
        let zero = InferenceProof(modelName: "m", input: "a", output: "", agent: alice.address, tokenCount: 0)
        let refused = try await HTTP.post(oracle + "/api/v1/metrics/report", try OracleReport.signed(
            by: alice.wallet, tokensProcessed: 0, avgLatencyMs: 1, uptimeSeconds: 1, requestCount: 1, timestamp: harness.clock.now(),
            proofs: [zero]))
        XCTAssertEqual(refused.status, 400)
        XCTAssertEqual(messages(refused.body), ["proofs.0.tokenCount must not be less than 1"])
        // The node never buffers such a proof, so its report goes through.
        let metrics = MetricsCollector()
        metrics.record(tokens: 0, latencySeconds: 0.01)
        metrics.addProof(zero)
        XCTAssertEqual(metrics.snapshot().pendingProofs, 0)
        let outcome = await OracleReporter(oracleURL: oracle, wallet: alice.wallet, metrics: metrics, interval: 60).reportOnce()
        XCTAssertEqual(outcome, .accepted)
    }

    // MARK: 4. Counters of a long-running node

    /// nodes.service.ts validateTokensProcessed (at most 1e9) and metrics.service.ts recordMetrics
    /// (deltas of cumulative counters; a lower value is a restarted counter, counted whole).
    func testALongRunningNodeStaysWithinTheTokenBoundAndLosesNoWork() async throws {
        try await harness.register(alice)
        let metrics = MetricsCollector()
        let reporter = OracleReporter(oracleURL: oracle, wallet: alice.wallet, metrics: metrics, interval: 60)
        var total = 0
        for _ in 0..<5 {
            metrics.record(tokens: 300_000_000, latencySeconds: 1)
            total += 300_000_000
            let outcome = await reporter.reportOnce()
            XCTAssertEqual(outcome, .accepted, "at \(total) tokens")
            harness.clock.advance(1)
        }
        let stored = try await HTTP.get(oracle + "/api/v1/metrics/agents/\(alice.address)")
        XCTAssertEqual(stored.body["tokensProcessed"]?.number, Double(total), "the oracle counted every token once")
        let over = try await HTTP.post(oracle + "/api/v1/metrics/report", try OracleReport.signed(
            by: alice.wallet, tokensProcessed: 1_000_000_001, avgLatencyMs: 1, uptimeSeconds: 1, requestCount: 1,
            timestamp: harness.clock.now() + 5, proofs: []))
        XCTAssertEqual(over.status, 400)
        XCTAssertEqual(messages(over.body), ["Token count exceeds maximum allowed"])
    }

    // MARK: 5. Rewards

    /// plumise-contracts src/RewardPool.sol claimRewardFor (behind 0x23) requires
    /// AgentRegistry.isRegistered and a pending reward; plumise-oracle monitor.service.ts claims
    /// hourly for active nodes, so the node leaves the claim to it.
    func testClaimsGoThrough0x23AndDoNotRaceTheOracle() async throws {
        // An account that is not an agent cannot claim.
        let stranger = try await harness.agent(bob).send(to: PlumiseAddresses.claimReward, data: [], gas: PlumiseAddresses.claimPrecompileGas)
        XCTAssertFalse(stranger.succeeded)
        let reason = await harness.agent(bob).revertReason(to: PlumiseAddresses.claimReward, data: [])
        XCTAssertEqual(reason, "execution reverted: Not registered")

        try await harness.register(alice)
        let report = try OracleReport.signed(by: alice.wallet, tokensProcessed: 10, avgLatencyMs: 1, uptimeSeconds: 60, requestCount: 1,
                                             timestamp: harness.clock.now(), proofs: [])
        _ = try await HTTP.post(oracle + "/api/v1/metrics/report", report)
        _ = try await harness.epochReporter().runOnce()
        harness.clock.advance(3600)
        _ = try await harness.epochReporter().runOnce()
        // Still reporting, so still an active node for the oracle's cycle.
        _ = try await HTTP.post(oracle + "/api/v1/metrics/report", try OracleReport.signed(
            by: alice.wallet, tokensProcessed: 10, avgLatencyMs: 1, uptimeSeconds: 3660, requestCount: 1, timestamp: harness.clock.now(),
            proofs: []))
        let tracker = RewardTracker(agent: harness.agent(alice))
        let pending = try await tracker.pendingReward()
        XCTAssertGreaterThan(pending, 0)

        // The node waits; the oracle's cycle claims for it; the node then has nothing to claim.
        let claimer = RewardClaimer(tracker: tracker, threshold: 1)
        let waiting = try await claimer.check()
        XCTAssertEqual(waiting, .waitingForSponsor(pending: pending, waited: 0))
        let nonceBefore = try await harness.rpc.pendingNonce(of: alice.address)
        let sponsored = await harness.sponsorJobs().claimRewards()
        XCTAssertEqual(sponsored, [alice.address])
        let after = try await claimer.check()
        XCTAssertEqual(after, .nothingPending)
        let nonceAfter = try await harness.rpc.pendingNonce(of: alice.address)
        XCTAssertEqual(nonceAfter, nonceBefore, "the node sent no transaction")
    }

    // MARK: 6 and 7. Discovery and the pipeline

    /// plumise-oracle register-node.dto.ts and nodes.service.ts; plumise-inference-api
    /// node-router.service.ts discovers nodes from GET /api/nodes (non-empty endpoint) and the
    /// topology (ready nodes with an httpEndpoint); plumise-agent node/registry.py joins the
    /// pipeline with http(s) URLs (register-pipeline-node.dto.ts: @IsUrl, require_protocol).
    func testTheNodeIsListedWithItsEndpointAndJoinsThePipeline() async throws {
        let model = "HuggingFaceTB/SmolLM2-135M-Instruct"
        // Bob has no registration on chain: the oracle sponsors it (nodes.service.ts registerNode).
        let announcer = OracleAnnouncer(oracleURL: oracle, wallet: bob.wallet, modelID: model, ramMb: 4096,
                                        logger: .init(label: "test"))
        let endpoints = OracleAnnouncer.Endpoints(publicURL: "http://203.0.113.7:31331", shardURL: "http://203.0.113.7:31330")
        try await announcer.registerNode(endpoints)
        let isAgent = try await harness.rpc.isAgentAccount(bob.address)
        XCTAssertTrue(isAgent, "sponsored 0x21 with the agent as beneficiary")
        let meta = try await harness.rpc.agentMeta(bob.address)
        XCTAssertEqual(meta["name"], .string("agent-" + String(bob.address.lowercased.suffix(8))))
        let listed = try await OracleClient(oracleURL: oracle).nodes()
        XCTAssertEqual(listed, [OracleClient.ListedNode(address: bob.address.lowercased, endpoint: endpoints.publicURL, status: "active",
                                                        capabilities: ["inference", model])])
        let assignment = try await announcer.joinPipeline(endpoints)
        XCTAssertEqual(assignment, OracleClient.Assignment(layerStart: 0, layerEnd: 32, totalLayers: 32))
        let ready = try await announcer.isListedReady()
        XCTAssertTrue(ready)
        let topology = try await OracleClient(oracleURL: oracle).topology(model: model)
        XCTAssertEqual(topology.map(\.httpEndpoint), [endpoints.publicURL])
        XCTAssertEqual(topology.map(\.grpcEndpoint), [endpoints.shardURL])
        // Re-registration every 5 minutes (plumise-agent-app) is accepted: timestamps increase.
        try await announcer.registerNode(endpoints)
        let capacity = try await HTTP.get(oracle + "/api/v1/metrics/capacity")
        XCTAssertEqual(capacity.status, 200)
    }

    /// What the old devnet launcher sent: a `totalLayers` key and a tcp:// grpcEndpoint.
    func testPipelineRegistrationsFollowTheDTO() async throws {
        try await harness.register(alice)
        var registration = try PipelineRegistration.signed(by: alice.wallet, grpcEndpoint: "tcp://127.0.0.1:1",
                                                           httpEndpoint: "http://127.0.0.1:2", model: "m", ramMb: 1,
                                                           timestamp: harness.clock.now())
        var json = try JSONDecoder().decode(JSONValue.self, from: try JSONEncoder().encode(registration))
        if case .object(var body) = json { body["totalLayers"] = .number(30); json = .object(body) }
        let refused = try await HTTP.request("POST", oracle + "/api/v1/pipeline/register", json: try JSONEncoder().encode(json))
        XCTAssertEqual(refused.status, 400)
        XCTAssertEqual(Set(messages(refused.body)), ["property totalLayers should not exist", "grpcEndpoint must be a URL address"])
        registration.grpcEndpoint = "http://localhost:1"
        XCTAssertEqual(OracleDTOs.registerPipelineNode.validate(try JSONDecoder().decode(JSONValue.self, from: try JSONEncoder().encode(registration))),
                       ["grpcEndpoint must be a URL address"], "validator.js needs a top-level domain: 'localhost' is no URL")
        XCTAssertTrue(URLRule.isURL("http://127.0.0.1:31330"))
        XCTAssertTrue(URLRule.isURL("https://node.example.com/api"))
        XCTAssertFalse(URLRule.isURL("127.0.0.1:31330"))
    }

    /// The topology as the real oracle answers it (a TypeORM entity from MySQL: bigint columns
    /// as strings, ISO dates), decoded by the node's client.
    func testTheRealTopologyShapeDecodes() throws {
        let answer = #"""
        {"model":"qwen/qwen3-32b","count":2,"nodes":[
          {"id":7,"nodeAddress":"0xf9d08344ba72513760563ae1ae7491b54706db1a","modelName":"qwen/qwen3-32b","layerStart":0,"layerEnd":32,
           "totalLayers":64,"grpcEndpoint":"http://1.2.3.4:50051","httpEndpoint":"http://1.2.3.4:31331","ramMb":"65536","device":"cuda",
           "vramMb":"24576","benchmarkTokPerSec":12.5,"ready":true,"pipelineOrder":0,"nodeMode":"standalone","clusterId":null,
           "rpcPort":50052,"lanIp":null,"createdAt":"2026-01-27T19:59:05.000Z","updatedAt":"2026-01-27T20:04:05.123Z"},
          {"nodeAddress":"0x0000000000000000000000000000000000000abc","modelName":"qwen/qwen3-32b","layerStart":0,"layerEnd":64,
           "totalLayers":64,"grpcEndpoint":"standalone://0xabc","httpEndpoint":"https://n.example.com","ramMb":0,"device":"auto",
           "vramMb":0,"ready":true,"pipelineOrder":999,"createdAt":"2026-01-27T19:59:05.000Z","updatedAt":"2026-01-27T19:59:05.000Z"}]}
        """#
        struct Topology: Decodable { let nodes: [OracleClient.TopologyNode] }
        let nodes = try JSONDecoder().decode(Topology.self, from: Data(answer.utf8)).nodes
        XCTAssertEqual(nodes.map(\.ramMb), [65536, 0])
        XCTAssertEqual(nodes.map(\.pipelineOrder), [0, 999])
        XCTAssertEqual(nodes.first?.totalLayers, 64)
    }
}
