import BigInt

/// What the RewardPool knows of an agent's work.
public struct Contribution: Equatable, Sendable {
    public let taskCount: BigUInt
    public let uptimeSeconds: BigUInt
    public let responseScore: BigUInt
    public let lastUpdated: BigUInt
}

/// The node's rewards in the RewardPool contract (0x…1000): the views. Claims go through
/// precompile 0x23 (``RewardClaimer``).
public struct RewardTracker: Sendable {
    public let agent: ChainAgent
    public let pool: Address

    public init(agent: ChainAgent, pool: Address = PlumiseAddresses.rewardPool) {
        self.agent = agent
        self.pool = pool
    }

    private var me: ABI.Value { .address(agent.address) }

    public func pendingReward() async throws -> BigUInt { try await pendingReward(for: agent.address) }

    /// The pending reward of any agent (the oracle asks for the nodes it sponsors).
    public func pendingReward(for address: Address) async throws -> BigUInt {
        ABI.uint(try ABI.words(try await agent.rpc.call(to: pool, data: ABI.call("getPendingReward(address)", [.address(address)])),
                               count: 1)[0])
    }

    public func contribution() async throws -> Contribution {
        let w = try ABI.words(try await agent.rpc.call(to: pool, data: ABI.call("getContribution(address)", [me])), count: 4)
        return Contribution(taskCount: ABI.uint(w[0]), uptimeSeconds: ABI.uint(w[1]), responseScore: ABI.uint(w[2]),
                            lastUpdated: ABI.uint(w[3]))
    }

    public func currentEpoch() async throws -> BigUInt {
        ABI.uint(try ABI.words(try await agent.rpc.call(to: pool, data: ABI.call("getCurrentEpoch()")), count: 1)[0])
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
