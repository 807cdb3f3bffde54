import Foundation
import BigInt
import GRDB
import PlumiseChain

/// The call a mined transaction makes: who, with what input, in which block.
struct CallContext {
    let sender: Address
    let data: [UInt8]
    let blockNumber: Int
    let timestamp: Int
    let config: DevChainConfig
}

/// An agent as the agent precompiles record it.
public struct AgentRecord: Equatable, Sendable {
    public let address: Address
    public let name: String
    public let modelHash: [UInt8]
    public let capabilities: [[UInt8]]
    public let registeredAt: Int
    /// 0 until the first heartbeat, as on the real chain.
    public let lastHeartbeat: Int
    public let totalInferences: Int

    /// Active while its registration or last heartbeat is recent.
    public func isActive(now: Int, window: Int) -> Bool {
        now - max(registeredAt, lastHeartbeat) <= window
    }
}

/// The Plumise agent precompiles: 0x21 agentRegister, 0x22 agentHeartbeat, 0x20 verifyInference,
/// 0x23 claimReward.
enum AgentPrecompiles {
    /// Most capabilities one registration may list (bounds the input a sender can make us store).
    static let maxCapabilities = 64

    static func agent(_ db: Database, _ address: Address) throws -> AgentRecord? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM agent WHERE address = ?", arguments: [Ledger.key(address)]) else {
            return nil
        }
        let capabilities: [UInt8] = Array(row["capabilities"] as Data)
        return AgentRecord(
            address: address, name: row["name"], modelHash: Array(row["modelHash"] as Data),
            capabilities: stride(from: 0, to: capabilities.count, by: 32).map { Array(capabilities[$0..<$0 + 32]) },
            registeredAt: row["registeredAt"], lastHeartbeat: row["lastHeartbeat"], totalInferences: row["totalInferences"])
    }

    /// 0x21: name (32) ‖ modelHash (32) ‖ capability count ‖ capabilities (32 each), registering
    /// the sender; or, sent by the oracle, name ‖ modelHash ‖ capCount 0 ‖ beneficiary word,
    /// registering the beneficiary (plumise-oracle nodes.service.ts sponsorAgentRegistration and
    /// chain.service.ts sponsorRegisterAgent: the oracle pays the gas of agents without PLM).
    static func register(_ db: Database, _ call: CallContext) throws {
        let data = call.data
        guard data.count >= 96, (data.count - 96) % 32 == 0 else {
            throw Revert("agentRegister input must be 96 bytes plus 32 per capability, got \(data.count)")
        }
        let declared = ABI.uint(Array(data[64..<96]))
        let present = (data.count - 96) / 32
        var agentAddress = call.sender
        var capabilities = Data(data[96...])
        if declared == 0, present == 1, call.sender == call.config.oracle {
            agentAddress = try beneficiary(Array(data[96..<128]), precompile: "agentRegister")
            capabilities = Data()
        } else {
            guard declared == BigUInt(present), present <= maxCapabilities else {
                throw Revert("agentRegister declares \(declared) capabilities but carries \(present) (at most \(maxCapabilities))")
            }
        }
        guard try agent(db, agentAddress) == nil else { throw Revert("\(agentAddress) is already a registered agent") }
        let name = String(decoding: data[0..<32].prefix { $0 != 0 }, as: UTF8.self)
        try db.execute(sql: """
            INSERT INTO agent (address, name, modelHash, capabilities, registeredAt, lastHeartbeat, totalInferences)
            VALUES (?, ?, ?, ?, ?, 0, 0)
            """, arguments: [Ledger.key(agentAddress), name, Data(data[32..<64]), capabilities, call.timestamp])
    }

    /// 0x23: the sender's reward (empty data: plumise-contracts test/e2e/testnet-e2e.ts), or,
    /// sent by the oracle, the reward of the agent named by a 32-byte word (plumise-oracle
    /// monitor.service.ts sendSponsoredClaimRewards). Either way RewardPool.claimRewardFor's rules.
    static func claimReward(_ db: Database, _ call: CallContext) throws {
        let agentAddress: Address
        switch call.data.count {
        case 0: agentAddress = call.sender
        case 32:
            guard call.sender == call.config.oracle else {
                throw Revert("claimReward for another agent is sponsored by the oracle only; an agent claims with empty data")
            }
            agentAddress = try beneficiary(call.data, precompile: "claimReward")
        default: throw Revert("claimReward input must be empty or one 32-byte address word, got \(call.data.count) bytes")
        }
        try RewardPool.claim(db, agent: agentAddress)
    }

    /// An address left-padded to a 32-byte word.
    private static func beneficiary(_ word: [UInt8], precompile: String) throws -> Address {
        do { return try ABI.address(word) } catch { throw Revert("\(precompile): the beneficiary word is not an address") }
    }

    /// 0x22: the sender's heartbeat. The oracle may also beat for an agent by passing its
    /// address as a 32-byte word (as plumise-oracle does for agents that did work).
    static func heartbeat(_ db: Database, _ call: CallContext) throws {
        var target = call.sender
        if call.data.count == 32, call.sender == call.config.oracle {
            target = try ABI.address(call.data)
        }
        guard try agent(db, target) != nil else { throw Revert("\(target) is not a registered agent") }
        try db.execute(sql: "UPDATE agent SET lastHeartbeat = ? WHERE address = ?", arguments: [call.timestamp, Ledger.key(target)])
    }

    /// 0x20: records an inference proof, only for the agent that sends it.
    static func verifyInference(_ db: Database, _ call: CallContext) throws {
        let proof: InferenceProof
        do { proof = try InferenceProof(verifyPayload: call.data) } catch { throw Revert("verifyInference: \(error)") }
        guard proof.agent == call.sender else {
            throw Revert("verifyInference for agent \(proof.agent) sent by \(call.sender): an agent can only prove its own work")
        }
        guard try agent(db, call.sender) != nil else { throw Revert("\(call.sender) is not a registered agent") }
        try db.execute(sql: """
            INSERT INTO inference (agent, modelHash, inputHash, outputHash, tokenCount, proofHash, blockNumber)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """, arguments: [Ledger.key(call.sender), Data(proof.modelHash), Data(proof.inputHash), Data(proof.outputHash),
                             proof.tokenCount, Data(proof.proofHash), call.blockNumber])
        try db.execute(sql: "UPDATE agent SET totalInferences = totalInferences + 1 WHERE address = ?",
                       arguments: [Ledger.key(call.sender)])
    }
}
