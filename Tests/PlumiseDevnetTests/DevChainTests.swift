import BigInt
import Foundation
import PlumiseChain
@testable import PlumiseDevnet
import XCTest

/// The dev chain through its JSON-RPC server, driven by the node's own chain client.
final class DevChainTests: XCTestCase {
    private var harness: DevnetHarness!
    private let alice = DevAccounts.account(0)
    private let bob = DevAccounts.account(1)
    private let gwei = BigUInt(1_000_000_000)

    override func setUp() async throws { harness = try await DevnetHarness.start() }

    override func tearDown() async throws {
        await harness.stop()
        harness.removeFiles()
    }

    private func expectRejection(_ raw: [UInt8], containing text: String, file: StaticString = #filePath, line: UInt = #line) async {
        do {
            _ = try await harness.rpc.sendRawTransaction(raw)
            XCTFail("expected a rejection containing '\(text)'", file: file, line: line)
        } catch let RPCError.node(method, code, message) {
            XCTAssertEqual(method, "eth_sendRawTransaction", file: file, line: line)
            XCTAssertEqual(code, -32000, file: file, line: line)
            XCTAssertTrue(message.contains(text), "'\(message)' lacks '\(text)'", file: file, line: line)
        } catch {
            XCTFail("\(error)", file: file, line: line)
        }
    }

    private func transaction(_ account: DevAccount, nonce: Int, to: Address = PlumiseAddresses.agentHeartbeat,
                             value: BigUInt = 0, data: [UInt8] = [], chainID: Int = 41956) throws -> SignedTransaction {
        try LegacyTransaction(nonce: BigUInt(nonce), gasPrice: gwei, gasLimit: 100_000, to: to, value: value, data: data,
                              chainID: BigUInt(chainID)).signed(by: account.wallet)
    }

    func testReadMethodsAnswerWhatTheClientAsks() async throws {
        let rpc = harness.rpc
        let chainID = try await rpc.chainID()
        XCTAssertEqual(chainID, 41956)
        let block = try await rpc.blockNumber()
        XCTAssertEqual(block, 0)
        let balance = try await rpc.balance(of: alice.address)
        XCTAssertEqual(balance, BigUInt(1000) * PLMUnit.wei)
        let nonce = try await rpc.pendingNonce(of: alice.address)
        XCTAssertEqual(nonce, 0)
        let price = try await rpc.gasPrice()
        XCTAssertEqual(price, gwei)
        let stranger = try Wallet(privateKey: Hex.encode(Keccak.hash256("nobody"))).address
        let empty = try await rpc.balance(of: stranger)
        XCTAssertEqual(empty, 0)
        let isAgent = try await rpc.isAgentAccount(alice.address)
        XCTAssertFalse(isAgent)
        let meta = try await rpc.agentMeta(alice.address)
        XCTAssertEqual(meta, .null)
        let status = try await rpc.agentStatus(alice.address)
        XCTAssertFalse(status.registered)
        XCTAssertFalse(status.active)
        let rewards = RewardTracker(agent: harness.agent(alice))
        let epoch = try await rewards.currentEpoch()
        XCTAssertEqual(epoch, 0)
        let pending = try await rewards.pendingReward()
        XCTAssertEqual(pending, 0)
        let version = try await rpc.client.call("net_version")
        XCTAssertEqual(version, .string("41956"))
        let pool = try await rpc.balance(of: PlumiseAddresses.rewardPool)
        XCTAssertEqual(pool, harness.devnet.chain.config.rewardPoolBalance)
        let missing = try await harness.receipt("0x" + String(repeating: "ab", count: 32))
        XCTAssertEqual(missing, .null)
    }

    func testUnknownMethodsAndBadParamsAreJSONRPCErrors() async throws {
        do {
            _ = try await harness.rpc.client.call("eth_mining")
            XCTFail("expected an error")
        } catch let RPCError.node(_, code, message) {
            XCTAssertEqual(code, -32601)
            XCTAssertTrue(message.contains("eth_mining"))
        }
        do {
            _ = try await harness.rpc.client.call("eth_getBalance", [.string("0x1234")])
            XCTFail("expected an error")
        } catch let RPCError.node(_, code, _) {
            XCTAssertEqual(code, -32602)
        }
        let (status, body) = try await HTTP.request("POST", harness.endpoints.chainURL, json: Data("{not json".utf8))
        XCTAssertEqual(status, 200)
        XCTAssertEqual(body["error"]?["code"]?.number, -32700)
        let batch = try await HTTP.request("POST", harness.endpoints.chainURL, json: Data("""
            [{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]},{"jsonrpc":"2.0","id":"b","method":"eth_blockNumber"}]
            """.utf8))
        XCTAssertEqual(batch.body.array?.count, 2)
        XCTAssertEqual(batch.body.array?[0]["result"], .string("0xa3e4"))
        XCTAssertEqual(batch.body.array?[1]["id"], .string("b"))
    }

    func testRegisterHeartbeatAndVerifyInferenceThroughTheNodesClient() async throws {
        let agent = harness.agent(alice)
        let before = try await harness.rpc.balance(of: alice.address)
        let registration = try await harness.register(alice, name: "smol-alice")
        let registered = try XCTUnwrap(registration)
        XCTAssertTrue(registered.succeeded)
        XCTAssertEqual(registered.blockNumber, 1)
        let isAgent = try await harness.rpc.isAgentAccount(alice.address)
        XCTAssertTrue(isAgent)
        let again = try await agent.register(name: "x", modelHash: Keccak.hash256("model"))
        XCTAssertEqual(again, .alreadyRegistered)

        let meta = try await harness.rpc.agentMeta(alice.address)
        XCTAssertEqual(meta["name"], .string("smol-alice"))
        XCTAssertEqual(meta["modelHash"], .string(Hex.encode(Keccak.hash256("model"))))
        XCTAssertEqual(meta["capabilities"], .array([.string(Hex.encode(Keccak.hash256("text-generation")))]))
        var status = try await harness.rpc.agentStatus(alice.address)
        XCTAssertEqual(status.lastHeartbeat, 0)
        XCTAssertTrue(status.registered && status.active)
        XCTAssertEqual(status.metadata, "smol-alice")

        harness.clock.advance(120)
        let beat = try await agent.heartbeat()
        XCTAssertTrue(beat.succeeded)
        status = try await harness.rpc.agentStatus(alice.address)
        XCTAssertEqual(status.lastHeartbeat, BigUInt(harness.clock.now()))

        let proof = InferenceProof(modelName: "model", input: "hi", output: "there", agent: alice.address, tokenCount: 7)
        let verified = try await agent.verifyInference(proof)
        XCTAssertTrue(verified.succeeded)
        let afterMeta = try await harness.rpc.agentMeta(alice.address)
        XCTAssertEqual(afterMeta["totalInferences"]?.number, 1)

        // Three mined blocks, three nonces, and exactly the intrinsic gas paid for each.
        let block = try await harness.rpc.blockNumber()
        XCTAssertEqual(block, 3)
        let nonce = try await harness.rpc.pendingNonce(of: alice.address)
        XCTAssertEqual(nonce, 3)
        let txs = try harness.sentPayloads(registerName: "smol-alice", proof: proof)
        let gas = txs.reduce(0) { $0 + DevChainState.intrinsicGas($1) }
        let after = try await harness.rpc.balance(of: alice.address)
        XCTAssertEqual(before - after, BigUInt(gas) * gwei)
        XCTAssertEqual(beat.gasUsed, BigUInt(21_000))

        let receipt = try await harness.receipt(beat.transactionHash)
        XCTAssertEqual(receipt["from"], .string(alice.address.lowercased))
        XCTAssertEqual(receipt["to"], .string(PlumiseAddresses.agentHeartbeat.lowercased))
        XCTAssertEqual(receipt["status"], .string("0x1"))
        XCTAssertEqual(receipt["blockNumber"], .string("0x2"))
    }

    func testDoubleRegistrationIsMinedWithStatusZeroAndCostsGas() async throws {
        try await harness.register(alice)
        let agent = harness.agent(alice)
        let before = try await harness.rpc.balance(of: alice.address)
        let payload = ChainAgent.registerPayload(name: "twice", modelHash: Keccak.hash256("m"), capabilities: [])
        let receipt = try await agent.send(to: PlumiseAddresses.agentRegister, data: payload, gas: 300_000)
        XCTAssertFalse(receipt.succeeded)
        let json = try await harness.receipt(receipt.transactionHash)
        XCTAssertTrue(json["revertReason"]?.string?.contains("already a registered agent") ?? false, "\(json)")
        let nonce = try await harness.rpc.pendingNonce(of: alice.address)
        XCTAssertEqual(nonce, 2)
        let after = try await harness.rpc.balance(of: alice.address)
        XCTAssertEqual(before - after, BigUInt(DevChainState.intrinsicGas(payload)) * gwei)
        let meta = try await harness.rpc.agentMeta(alice.address)
        XCTAssertEqual(meta["name"], .string("test-agent"), "the first registration stands")
    }

    func testMalformedRegistrationInputFails() async throws {
        let receipt = try await harness.agent(alice).send(to: PlumiseAddresses.agentRegister, data: [1, 2, 3], gas: 300_000)
        XCTAssertFalse(receipt.succeeded)
        let isAgent = try await harness.rpc.isAgentAccount(alice.address)
        XCTAssertFalse(isAgent)
    }

    func testHeartbeatFromANonAgentFails() async throws {
        do {
            _ = try await harness.agent(bob).heartbeat()
            XCTFail("a non-agent's heartbeat must fail")
        } catch let error as AgentError {
            guard case .reverted(let what, let hash, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(what, "heartbeat")
            let json = try await harness.receipt(hash)
            XCTAssertEqual(json["status"], .string("0x0"))
            XCTAssertTrue(json["revertReason"]?.string?.contains("not a registered agent") ?? false)
        }
        let nonce = try await harness.rpc.pendingNonce(of: bob.address)
        XCTAssertEqual(nonce, 1, "a failed call still uses its nonce")
    }

    func testVerifyInferenceOnlyForTheSendersOwnWork() async throws {
        try await harness.register(alice)
        try await harness.register(bob)
        let alicesProof = InferenceProof(modelName: "m", input: "a", output: "b", agent: alice.address, tokenCount: 3)
        do {
            _ = try await harness.agent(bob).verifyInference(alicesProof)
            XCTFail("bob must not prove alice's work")
        } catch let AgentError.reverted(_, hash, _) {
            let json = try await harness.receipt(hash)
            XCTAssertTrue(json["revertReason"]?.string?.contains("own work") ?? false, "\(json)")
        }
        let meta = try await harness.rpc.agentMeta(alice.address)
        XCTAssertEqual(meta["totalInferences"]?.number, 0)

        // A non-agent proving its own work fails too.
        let carol = DevAccounts.account(2)
        let own = InferenceProof(modelName: "m", input: "a", output: "b", agent: carol.address, tokenCount: 3)
        do {
            _ = try await harness.agent(carol).verifyInference(own)
            XCTFail("a non-agent's proof must fail")
        } catch is AgentError {}
    }

    func testWrongChainIDIsRejectedAndChangesNothing() async throws {
        let tx = try transaction(alice, nonce: 0, chainID: 1)
        await expectRejection(tx.raw, containing: "invalid chain id: the transaction is signed for chain 1, this chain is 41956")
        let nonce = try await harness.rpc.pendingNonce(of: alice.address)
        XCTAssertEqual(nonce, 0)
        let block = try await harness.rpc.blockNumber()
        XCTAssertEqual(block, 0)
    }

    func testWrongNoncesAreRejected() async throws {
        await expectRejection(try transaction(alice, nonce: 1).raw, containing: "nonce too high")
        let first = try transaction(alice, nonce: 0, to: bob.address, value: 5)
        _ = try await harness.rpc.sendRawTransaction(first.raw)
        await expectRejection(try transaction(alice, nonce: 0, to: bob.address, value: 6).raw,
                              containing: "nonce too low: \(alice.address) has next nonce 1, the transaction has 0")
        await expectRejection(first.raw, containing: "already known")
        let nonce = try await harness.rpc.pendingNonce(of: alice.address)
        XCTAssertEqual(nonce, 1)
    }

    func testSenderIsRecoveredFromTheSignature() async throws {
        // Change one byte of the signed payload: the signature now recovers to some other,
        // unfunded address, and the chain refuses to charge it.
        var raw = try transaction(alice, nonce: 0, to: bob.address, value: 1).raw
        let tampered = try SignedTransaction.decode(raw: raw)
        XCTAssertEqual(tampered.sender, alice.address)
        let index = raw.count - 70 // inside the value/data fields, before v, r, s
        raw[index] ^= 0x01
        if let decoded = try? SignedTransaction.decode(raw: raw) {
            XCTAssertNotEqual(decoded.sender, alice.address)
            await expectRejection(raw, containing: "insufficient funds")
        } else {
            await expectRejection(raw, containing: "invalid transaction")
        }
        await expectRejection([0xde, 0xad, 0xbe, 0xef], containing: "invalid transaction")
        let nonce = try await harness.rpc.pendingNonce(of: alice.address)
        XCTAssertEqual(nonce, 0)
    }

    func testUnfundedSendersAndLowGasAreRejected() async throws {
        let stranger = try Wallet(privateKey: Hex.encode(Keccak.hash256("stranger")))
        let tx = try LegacyTransaction(nonce: 0, gasPrice: gwei, gasLimit: 21_000, to: bob.address, chainID: 41956).signed(by: stranger)
        await expectRejection(tx.raw, containing: "insufficient funds for gas * price + value")
        let low = try LegacyTransaction(nonce: 0, gasPrice: gwei, gasLimit: 20_000, to: bob.address, chainID: 41956)
            .signed(by: alice.wallet)
        await expectRejection(low.raw, containing: "intrinsic gas too low")
    }

    func testTransfersMoveValue() async throws {
        let before = try await harness.rpc.balance(of: bob.address)
        let tx = try transaction(alice, nonce: 0, to: bob.address, value: PLMUnit.wei)
        let hash = try await harness.rpc.sendRawTransaction(tx.raw)
        XCTAssertEqual(hash, tx.hashHex)
        let after = try await harness.rpc.balance(of: bob.address)
        XCTAssertEqual(after - before, PLMUnit.wei)
    }

    func testRewardPoolDistributesEpochsAndPaysClaims() async throws {
        try await harness.register(alice)
        try await harness.register(bob)
        let oracle = harness.agent(DevAccounts.oracle)
        let pool = PlumiseAddresses.rewardPool
        func report(_ agent: Address, _ task: Int, _ uptime: Int, _ response: Int, from sender: ChainAgent) async throws -> TransactionReceipt {
            try await sender.send(to: pool, data: ABI.call("reportContribution(address,uint256,uint256,uint256)",
                                                           [.address(agent), .uint(BigUInt(task)), .uint(BigUInt(uptime)),
                                                            .uint(BigUInt(response))]), gas: 200_000)
        }
        func distribute(_ epoch: Int) async throws -> TransactionReceipt {
            try await oracle.send(to: pool, data: ABI.call("distributeRewards(uint256)", [.uint(BigUInt(epoch))]), gas: 200_000)
        }
        let forged = try await report(alice.address, 100, 100, 100, from: harness.agent(bob))
        XCTAssertFalse(forged.succeeded, "only the oracle reports contributions")
        let a = try await report(alice.address, 10, 3600, 90, from: oracle)
        let b = try await report(bob.address, 5, 1800, 95, from: oracle)
        XCTAssertTrue(a.succeeded && b.succeeded)
        let tooHigh = try await report(alice.address, 10_001, 0, 0, from: oracle)
        XCTAssertFalse(tooHigh.succeeded)
        let early = try await distribute(0)
        XCTAssertFalse(early.succeeded, "epoch 0 has not ended")

        harness.clock.advance(3600)
        let aliceRewards = RewardTracker(agent: harness.agent(alice))
        let epoch = try await aliceRewards.currentEpoch()
        XCTAssertEqual(epoch, 1)
        let distributed = try await distribute(0)
        XCTAssertTrue(distributed.succeeded)
        let twice = try await distribute(0)
        XCTAssertFalse(twice.succeeded)

        // plumise-contracts' weights: task×50 + uptime×30 + response×20; the last scorer gets the dust.
        let reward = harness.devnet.chain.config.epochReward
        let scoreA: BigUInt = 110_300 // 10×50 + 3600×30 + 90×20
        let scoreB: BigUInt = 56_150 // 5×50 + 1800×30 + 95×20
        let pendingA = try await aliceRewards.pendingReward()
        XCTAssertEqual(pendingA, reward * scoreA / (scoreA + scoreB))
        let pendingB = try await RewardTracker(agent: harness.agent(bob)).pendingReward()
        XCTAssertEqual(pendingA + pendingB, reward)
        let contribution = try await aliceRewards.contribution()
        XCTAssertEqual(contribution.taskCount, 10)
        XCTAssertEqual(contribution.uptimeSeconds, 3600)
        XCTAssertEqual(contribution.responseScore, 90)

        // The node's own claim: 0x23 with empty data (plumise-contracts test/e2e/testnet-e2e.ts).
        let before = try await harness.rpc.balance(of: alice.address)
        let claimer = RewardClaimer(tracker: aliceRewards, threshold: 1, claimAfter: 0)
        let outcome = try await claimer.check()
        guard case .claimed(let amount, let receipt) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(amount, pendingA)
        let after = try await harness.rpc.balance(of: alice.address)
        XCTAssertEqual(after, before + pendingA - receipt.gasUsed * gwei)
        let left = try await aliceRewards.pendingReward()
        XCTAssertEqual(left, 0)
        let again = try await harness.agent(alice).send(to: pool, data: ABI.call("claimReward()"), gas: 200_000)
        XCTAssertFalse(again.succeeded, "nothing left to claim")
        let reason = await harness.agent(alice).revertReason(to: PlumiseAddresses.claimReward, data: [])
        XCTAssertEqual(reason, "execution reverted: No rewards", "RewardPool.sol's words, replayed through eth_call")
    }

    func testABusyPortEndsTheRunWithAnErrorInsteadOfHanging() async throws {
        let busy = try XCTUnwrap(URL(string: harness.endpoints.chainURL)?.port)
        var options = DevnetOptions()
        options.chainPort = busy
        options.oraclePort = 0
        options.dataDirectory = harness.directory + "-second"
        defer { try? FileManager.default.removeItem(atPath: options.dataDirectory) }
        let second = try Devnet(options: options)
        let run = Task { try await second.run() }
        let watchdog = Task {
            try await Task.sleep(nanoseconds: 20_000_000_000)
            run.cancel()
        }
        let result = await run.result
        watchdog.cancel()
        guard case .failure = result else { return XCTFail("a devnet on a busy port must fail, got \(result)") }
        try second.close()
    }

    func testStatePersistsAcrossARestart() async throws {
        try await harness.register(alice)
        let beat = try await harness.agent(alice).heartbeat()
        let balance = try await harness.rpc.balance(of: alice.address)
        let directory = harness.directory, clock = harness.clock
        await harness.stop()

        harness = try await DevnetHarness.start(directory: directory, clock: clock)
        let isAgent = try await harness.rpc.isAgentAccount(alice.address)
        XCTAssertTrue(isAgent)
        let nonce = try await harness.rpc.pendingNonce(of: alice.address)
        XCTAssertEqual(nonce, 2)
        let block = try await harness.rpc.blockNumber()
        XCTAssertEqual(block, 2)
        let kept = try await harness.rpc.balance(of: alice.address)
        XCTAssertEqual(kept, balance)
        let receipt = try await harness.rpc.receipt(of: beat.transactionHash)
        XCTAssertEqual(receipt?.succeeded, true)
        // And the chain goes on from there.
        let next = try await harness.agent(alice).heartbeat()
        XCTAssertEqual(next.blockNumber, 3)
    }
}

/// The chain state without a server.
final class DevChainStateTests: XCTestCase {
    func testEpochsNeverGoBackWhenTheEpochLengthChanges() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("chain-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let clock = TestClock()
        var config = DevChainConfig()
        config.clock = { clock.now() }
        config.epochSeconds = 60
        var state = try DevChainState(path: path, config: config)
        clock.advance(150)
        let counted = try await state.currentEpoch()
        XCTAssertEqual(counted, 2)
        try state.close()

        // Restarted with hour-long epochs: epoch 2 goes on (it started 30 s ago) and lasts an hour.
        config.epochSeconds = 3600
        state = try DevChainState(path: path, config: config)
        let kept = try await state.currentEpoch()
        XCTAssertEqual(kept, 2)
        clock.advance(3500)
        let still = try await state.currentEpoch()
        XCTAssertEqual(still, 2)
        clock.advance(100)
        let next = try await state.currentEpoch()
        XCTAssertEqual(next, 3)
        try state.close()
    }

    func testDevKeysAreDeterministicAndValid() throws {
        XCTAssertEqual(DevAccounts.account(0).privateKey, Hex.encode(Keccak.hash256("plumise-devnet-0")))
        XCTAssertEqual(DevAccounts.accounts(count: 3).map(\.address), (0..<3).map { DevAccounts.account($0).address })
        XCTAssertEqual(Set(DevAccounts.accounts().map(\.address) + [DevAccounts.oracle.address]).count, DevAccounts.defaultCount + 1)
        XCTAssertEqual(try Wallet(privateKey: DevAccounts.account(5).privateKey).address, DevAccounts.account(5).address)
    }
}

extension DevnetHarness {
    /// The inputs the client sent in the registration, heartbeat and verify test, for gas sums.
    func sentPayloads(registerName: String, proof: InferenceProof) throws -> [[UInt8]] {
        [ChainAgent.registerPayload(name: registerName, modelHash: Keccak.hash256("model"),
                                    capabilities: [Keccak.hash256("text-generation")]), [], proof.verifyPayload]
    }
}
