import BigInt
import Foundation
import PetalsTestSupport
import PlumiseChain
import XCTest

/// The JSON-RPC client, ChainAgent and RewardTracker against a real HTTP server on 127.0.0.1.
final class ChainClientTests: XCTestCase {
    private let wallet = try! Wallet(privateKey: "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
    private var servers: [TestRPCServer] = []

    override func tearDown() {
        servers.forEach { $0.stop() }
        servers = []
    }

    /// A node that mines every transaction at once with status `succeeds`, and answers the
    /// rest from `extra` (method → answer).
    private func node(isAgent: Bool = false, succeeds: Bool = true, pending: BigUInt = 0, balance: String = "0x1bc16d674ec80000",
                      extra: [String: TestRPCServer.Answer] = [:]) throws -> (TestRPCServer, ChainRPC) {
        let server = try TestRPCServer { method, params in
            if let answer = extra[method] { return answer }
            switch method {
            case "eth_chainId": return .result(.string("0xa3e4"))
            case "eth_blockNumber": return .result(.string("0x10"))
            case "eth_getBalance": return .result(.string(balance)) // 2 PLM by default
            case "eth_getTransactionCount": return .result(.string("0x7"))
            case "eth_gasPrice": return .result(.string("0x3b9aca00"))
            case "eth_sendRawTransaction":
                let raw = Hex.decode(params.first?.string ?? "") ?? []
                return .result(.string(Hex.encode(Keccak.hash256(raw))))
            case "eth_getTransactionReceipt":
                return .result(.object(["status": .string(succeeds ? "0x1" : "0x0"), "blockNumber": .string("0x11"),
                                        "gasUsed": .string("0x5208")]))
            // As the real chain: (address, block), else "missing value for required argument 1"
            // (plumise-contracts test/e2e/TEST_RESULTS.md).
            case "agent_isAgentAccount":
                guard params.count == 2 else { return .error(code: -32602, message: "missing value for required argument 1") }
                return .result(.bool(isAgent))
            case "agent_getStatus":
                return .result(AgentStatus(address: params.first?.string ?? "", registered: isAgent, active: isAgent,
                                           lastHeartbeat: 0, registeredAt: 0x698c3793, metadata: "e2e-test-agent").json)
            case "eth_call":
                let data = Hex.decode(params.first?["data"]?.string ?? "") ?? []
                if data.starts(with: ABI.selector("getPendingReward(address)")) { return .result(.string(Hex.encode(ABI.word(.uint(pending))))) }
                if data.starts(with: ABI.selector("getCurrentEpoch()")) { return .result(.string(Hex.encode(ABI.word(.uint(12))))) }
                if data.starts(with: ABI.selector("getContribution(address)")) {
                    return .result(.string(Hex.encode([42, 3600, 95, 1_700_000_000].flatMap { ABI.word(.uint(BigUInt($0))) })))
                }
                return .error(code: -32000, message: "execution reverted")
            default: return .error(code: -32601, message: "method \(method) not found")
            }
        }
        servers.append(server)
        return (server, ChainRPC(url: server.url, timeoutSeconds: 5))
    }

    func testTypedQueriesParseTheNodesAnswers() async throws {
        let (_, rpc) = try node()
        let chainID = try await rpc.chainID()
        XCTAssertEqual(chainID, 41956)
        let block = try await rpc.blockNumber()
        XCTAssertEqual(block, 16)
        let balance = try await rpc.balance(of: wallet.address)
        XCTAssertEqual(PLM.format(balance), "2 PLM")
        let nonce = try await rpc.pendingNonce(of: wallet.address)
        XCTAssertEqual(nonce, 7)
        let price = try await rpc.gasPrice()
        XCTAssertEqual(price, 1_000_000_000)
    }

    func testNodeErrorsAreSurfacedWithTheirMessage() async throws {
        let (_, rpc) = try node(extra: ["eth_gasPrice": .error(code: -32000, message: "gas oracle is down")])
        do {
            _ = try await rpc.gasPrice()
            XCTFail("expected an error")
        } catch let error as RPCError {
            XCTAssertEqual(error, .node(method: "eth_gasPrice", code: -32000, message: "gas oracle is down"))
            XCTAssertFalse(error.isRetryable)
            XCTAssertTrue(error.description.contains("gas oracle is down"))
        }
    }

    func testNetworkFailuresAreTypedAndRetryable() async throws {
        let rpc = ChainRPC(url: "http://127.0.0.1:1", timeoutSeconds: 2)
        do {
            _ = try await rpc.chainID()
            XCTFail("expected an error")
        } catch let error as RPCError {
            guard case .network = error else { return XCTFail("\(error)") }
            XCTAssertTrue(error.isRetryable)
        }
        let (_, failing) = try node(extra: ["eth_chainId": .httpStatus(503), "eth_blockNumber": .raw("<html>")])
        do {
            _ = try await failing.chainID()
            XCTFail("expected an error")
        } catch let error as RPCError {
            XCTAssertEqual(error, .http(url: failing.endpoint, status: 503))
            XCTAssertTrue(error.isRetryable)
        }
        do {
            _ = try await failing.blockNumber()
            XCTFail("expected an error")
        } catch let error as RPCError {
            guard case .badResponse = error else { return XCTFail("\(error)") }
        }
    }

    func testReceiptsArePolledUntilMinedOrTimedOut() async throws {
        final class Polls: @unchecked Sendable { var count = 0 }
        let polls = Polls()
        let server = try TestRPCServer { method, _ in
            guard method == "eth_getTransactionReceipt" else { return .error(code: -1, message: "no") }
            polls.count += 1
            if polls.count < 3 { return .result(.null) }
            return .result(.object(["status": .string("0x1"), "blockNumber": .string("0x2")]))
        }
        servers.append(server)
        let rpc = ChainRPC(url: server.url)
        let receipt = try await rpc.waitForReceipt(of: "0xabc", timeout: 10, interval: 0.05)
        XCTAssertTrue(receipt.succeeded)
        XCTAssertEqual(polls.count, 3)

        let (_, never) = try node(extra: ["eth_getTransactionReceipt": .result(.null)])
        do {
            _ = try await never.waitForReceipt(of: "0xdef", timeout: 0.3, interval: 0.05)
            XCTFail("expected a timeout")
        } catch let error as RPCError {
            XCTAssertEqual(error, .receiptTimeout(hash: "0xdef", seconds: 0.3))
        }
    }

    func testRegistrationSendsTheDesignedPayloadToPrecompile21() async throws {
        let (server, rpc) = try node()
        let agent = ChainAgent(rpc: rpc, wallet: wallet)
        let modelHash = Keccak.hash256("SmolLM2-135M-Instruct")
        let name = ChainAgent.defaultName(modelName: "models/SmolLM2-135M-Instruct.Q4_1.gguf", address: wallet.address)
        XCTAssertEqual(name, "SmolLM2-135M-Ins-" + String(wallet.address.lowercased.suffix(8)))
        let outcome = try await agent.register(name: name, modelHash: modelHash, capabilities: [Keccak.hash256("text-generation")])
        guard case .registered(let receipt) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertTrue(receipt.succeeded)
        let tx = try XCTUnwrap(try server.sentTransactions().first)
        XCTAssertEqual(tx.sender, wallet.address)
        XCTAssertEqual(tx.transaction.to, PlumiseAddresses.agentRegister)
        XCTAssertEqual(tx.transaction.chainID, 41956)
        XCTAssertEqual(tx.transaction.gasLimit, 300_000)
        XCTAssertEqual(tx.transaction.nonce, 7)
        XCTAssertEqual(tx.transaction.data.count, 32 * 4)
        XCTAssertEqual(Array(tx.transaction.data[0..<32]), Array(name.utf8) + [UInt8](repeating: 0, count: 32 - name.utf8.count))
        XCTAssertEqual(Array(tx.transaction.data[32..<64]), modelHash)
        XCTAssertEqual(ABI.uint(Array(tx.transaction.data[64..<96])), 1)
    }

    func testAnAlreadyRegisteredAgentDoesNotRegisterAgain() async throws {
        let (server, rpc) = try node(isAgent: true)
        let outcome = try await ChainAgent(rpc: rpc, wallet: wallet).register(name: "x", modelHash: Keccak.hash256("m"))
        XCTAssertEqual(outcome, .alreadyRegistered)
        XCTAssertTrue(try server.sentTransactions().isEmpty)
    }

    func testHeartbeatAndVerifyInferenceTransactions() async throws {
        let (server, rpc) = try node()
        let agent = ChainAgent(rpc: rpc, wallet: wallet)
        _ = try await agent.heartbeat()
        let proof = InferenceProof(modelName: "SmolLM2-135M-Instruct", input: "Hi", output: "Hello!", agent: wallet.address, tokenCount: 9)
        _ = try await agent.verifyInference(proof)
        let sent = try server.sentTransactions()
        XCTAssertEqual(sent.map { $0.transaction.to }, [PlumiseAddresses.agentHeartbeat, PlumiseAddresses.verifyInference])
        XCTAssertEqual(sent[0].transaction.data, [])
        XCTAssertEqual(sent[0].transaction.gasLimit, 100_000)
        XCTAssertEqual(sent[1].transaction.gasLimit, 200_000)
        XCTAssertEqual(try InferenceProof(verifyPayload: sent[1].transaction.data), proof)
        XCTAssertEqual(Array(sent[1].transaction.data[96..<128]), [UInt8](repeating: 0, count: 12) + wallet.address.bytes)
    }

    func testAFailedTransactionIsReported() async throws {
        let (_, rpc) = try node(succeeds: false)
        do {
            _ = try await ChainAgent(rpc: rpc, wallet: wallet).heartbeat()
            XCTFail("expected an error")
        } catch let error as AgentError {
            XCTAssertTrue(error.description.contains("heartbeat"))
        }
    }

    func testTheRewardViewsParseThePoolsAnswers() async throws {
        let (_, rpc) = try node(pending: 5)
        let rewards = RewardTracker(agent: ChainAgent(rpc: rpc, wallet: wallet))
        let pending = try await rewards.pendingReward()
        XCTAssertEqual(pending, 5)
        let contribution = try await rewards.contribution()
        XCTAssertEqual(contribution.taskCount, 42)
        XCTAssertEqual(contribution.uptimeSeconds, 3600)
        let epoch = try await rewards.currentEpoch()
        XCTAssertEqual(epoch, 12)
    }

    /// plumise-oracle monitor.service.ts claims every active node's pending reward hourly
    /// through 0x23; the node claims itself (0x23, empty data, as plumise-contracts
    /// test/e2e/testnet-e2e.ts) only what stayed pending past that cycle.
    func testRewardsWaitForTheOraclesSponsoredClaimThenGoThrough0x23() async throws {
        let oneAndHalf = BigUInt(15) * BigUInt(10).power(17)
        let clock = ManualClock()
        let (poorServer, poorRPC) = try node(pending: 5)
        let poor = RewardClaimer(tracker: RewardTracker(agent: ChainAgent(rpc: poorRPC, wallet: wallet)), clock: clock.now)
        let below = try await poor.check()
        XCTAssertEqual(below, .belowThreshold(pending: 5))
        XCTAssertTrue(try poorServer.sentTransactions().isEmpty)

        let (server, rpc) = try node(pending: oneAndHalf)
        let claimer = RewardClaimer(tracker: RewardTracker(agent: ChainAgent(rpc: rpc, wallet: wallet)), clock: clock.now)
        let first = try await claimer.check()
        XCTAssertEqual(first, .waitingForSponsor(pending: oneAndHalf, waited: 0))
        clock.advance(3600)
        let hourLater = try await claimer.check()
        XCTAssertEqual(hourLater, .waitingForSponsor(pending: oneAndHalf, waited: 3600))
        XCTAssertTrue(try server.sentTransactions().isEmpty, "the oracle's hourly claim comes first")
        clock.advance(RewardClaimer.defaultClaimAfter - 3600)
        guard case .claimed(let amount, _) = try await claimer.check() else { return XCTFail("no claim") }
        XCTAssertEqual(PLM.format(amount), "1.5 PLM")
        let tx = try XCTUnwrap(try server.sentTransactions().first)
        XCTAssertEqual(tx.transaction.to, PlumiseAddresses.claimReward)
        XCTAssertEqual(tx.transaction.data, [])
    }

    func testAnAgentWithoutGasLeavesTheClaimToTheOracle() async throws {
        let (server, rpc) = try node(pending: BigUInt(10).power(19), balance: "0x0")
        let claimer = RewardClaimer(tracker: RewardTracker(agent: ChainAgent(rpc: rpc, wallet: wallet)), claimAfter: 0)
        let outcome = try await claimer.check()
        XCTAssertEqual(outcome, .noBalance(pending: BigUInt(10).power(19), balance: 0))
        XCTAssertTrue(try server.sentTransactions().isEmpty)
    }

    func testARevertedClaimIsNotSentAgainUntilThePendingRewardChanges() async throws {
        let pending = BigUInt(10).power(19)
        let (server, rpc) = try node(succeeds: false, pending: pending)
        let claimer = RewardClaimer(tracker: RewardTracker(agent: ChainAgent(rpc: rpc, wallet: wallet)), claimAfter: 0)
        do {
            _ = try await claimer.check()
            XCTFail("expected the revert")
        } catch let error as AgentError {
            // The reason comes from replaying the call with eth_call (this node answers "execution reverted").
            XCTAssertTrue(error.description.contains("execution reverted"), error.description)
        }
        let again = try await claimer.check()
        XCTAssertEqual(again, .skippedAfterRevert(pending: pending))
        XCTAssertEqual(try server.sentTransactions().count, 1)
    }

    func testProofHashFollowsTheDesignFormula() throws {
        let proof = InferenceProof(modelName: "m", input: "in", output: "out", agent: wallet.address, tokenCount: 3)
        let expected = Keccak.hash256(Keccak.hash256("m") + Keccak.hash256("in") + Keccak.hash256("out")
                                      + [UInt8](repeating: 0, count: 12) + wallet.address.bytes)
        XCTAssertEqual(proof.proofHash, expected)
        // What a report carries: the four hashes-and-count of InferenceProofDto, 0x + 64 hex each.
        let reported = proof.reported
        XCTAssertEqual(reported.modelHash, Hex.encode(Keccak.hash256("m")))
        XCTAssertEqual(reported.modelHash.count, 66)
        XCTAssertEqual(reported.tokenCount, 3)
        XCTAssertEqual(try JSONDecoder().decode(ReportedProof.self, from: try JSONEncoder().encode(reported)), reported)
    }
}

/// A clock the test moves by hand.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current = Date(timeIntervalSince1970: 1_800_000_000)
    func advance(_ seconds: TimeInterval) { lock.withLock { current += seconds } }
    var now: @Sendable () -> Date { { [self] in lock.withLock { current } } }
}
