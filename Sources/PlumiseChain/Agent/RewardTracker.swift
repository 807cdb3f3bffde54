import BigInt

/// What the RewardPool knows of an agent's work.
public struct Contribution: Equatable, Sendable {
    public let taskCount: BigUInt
    public let uptimeSeconds: BigUInt
    public let responseScore: BigUInt
    public let lastUpdated: BigUInt
}

/// The node's rewards in the RewardPool contract (0x…1000): queries and the auto-claim rule.
public struct RewardTracker: Sendable {
    public let agent: ChainAgent
    public let pool: Address
    /// Claim once pending rewards reach this many wei (default 1 PLM).
    public let claimThreshold: BigUInt

    public init(agent: ChainAgent, pool: Address = PlumiseAddresses.rewardPool,
                claimThreshold: BigUInt = BigUInt(10).power(18)) {
        self.agent = agent
        self.pool = pool
        self.claimThreshold = claimThreshold
    }

    private var me: ABI.Value { .address(agent.address) }

    public func pendingReward() async throws -> BigUInt {
        ABI.uint(try ABI.words(try await agent.rpc.call(to: pool, data: ABI.call("getPendingReward(address)", [me])), count: 1)[0])
    }

    public func contribution() async throws -> Contribution {
        let w = try ABI.words(try await agent.rpc.call(to: pool, data: ABI.call("getContribution(address)", [me])), count: 4)
        return Contribution(taskCount: ABI.uint(w[0]), uptimeSeconds: ABI.uint(w[1]), responseScore: ABI.uint(w[2]),
                            lastUpdated: ABI.uint(w[3]))
    }

    public func currentEpoch() async throws -> BigUInt {
        ABI.uint(try ABI.words(try await agent.rpc.call(to: pool, data: ABI.call("getCurrentEpoch()")), count: 1)[0])
    }

    public enum ClaimOutcome: Equatable, Sendable {
        case belowThreshold(pending: BigUInt)
        case claimed(amount: BigUInt, receipt: TransactionReceipt)
    }

    /// Claims through claimReward() when the pending reward reaches the threshold.
    public func claimIfDue() async throws -> ClaimOutcome {
        let pending = try await pendingReward()
        guard pending >= claimThreshold, pending > 0 else { return .belowThreshold(pending: pending) }
        let receipt = try await agent.send(to: pool, data: ABI.call("claimReward()"), gas: PlumiseAddresses.claimGas)
        guard receipt.succeeded else { throw AgentError.reverted("claimReward", receipt.transactionHash) }
        return .claimed(amount: pending, receipt: receipt)
    }
}

/// The AgentRegistry contract (address from AGENT_REGISTRY_ADDRESS), when one is configured.
public struct AgentRegistry: Sendable {
    public let rpc: ChainRPC
    public let address: Address

    public init(rpc: ChainRPC, address: Address) {
        self.rpc = rpc
        self.address = address
    }

    public func isRegistered(_ agent: Address) async throws -> Bool {
        try ABI.bool(try ABI.words(try await rpc.call(to: address, data: ABI.call("isRegistered(address)", [.address(agent)])), count: 1)[0])
    }

    public func isActive(_ agent: Address) async throws -> Bool {
        try ABI.bool(try ABI.words(try await rpc.call(to: address, data: ABI.call("isActive(address)", [.address(agent)])), count: 1)[0])
    }

    /// getAgent(address) → (address owner, bytes32 name, uint256 registeredAt, uint256 lastHeartbeat,
    /// bool active): the static head of the record, as the registry returns it.
    public struct Record: Equatable, Sendable {
        public let owner: Address
        public let name: String
        public let registeredAt: BigUInt
        public let lastHeartbeat: BigUInt
        public let active: Bool
    }

    public func agent(_ agent: Address) async throws -> Record {
        try Self.decodeRecord(try await rpc.call(to: address, data: ABI.call("getAgent(address)", [.address(agent)])))
    }

    public static func decodeRecord(_ data: [UInt8]) throws -> Record {
        let w = try ABI.words(data, count: 5)
        let name = String(decoding: w[1].prefix { $0 != 0 }, as: UTF8.self)
        return Record(owner: try ABI.address(w[0]), name: name, registeredAt: ABI.uint(w[2]),
                      lastHeartbeat: ABI.uint(w[3]), active: try ABI.bool(w[4]))
    }
}

/// Wei amounts in PLM (18 decimals), trimmed, e.g. "12.5 PLM".
public enum PLM {
    public static func format(_ wei: BigUInt, decimals: Int = 6) -> String {
        let unit = BigUInt(10).power(18)
        let whole = wei / unit
        var fraction = String(wei % unit)
        fraction = String(repeating: "0", count: 18 - fraction.count) + fraction
        let shown = fraction.prefix(decimals).replacingOccurrences(of: "0+$", with: "", options: .regularExpression)
        return shown.isEmpty ? "\(whole) PLM" : "\(whole).\(shown) PLM"
    }
}

import Foundation
