import BigInt
import Foundation
import PlumiseChain

/// What `plumise-petals status` reports: the agent seen from the chain.
public struct NodeStatus: Sendable {
    public var agent: Address
    public var rpcURL: String
    public var chainID: BigUInt?
    public var online: Bool
    /// Why the chain could not be read (when offline or a query failed).
    public var problems: [String] = []
    public var balance: BigUInt?
    public var registered: Bool?
    public var active: Bool?
    public var pendingReward: BigUInt?
    public var epoch: BigUInt?
    public var contribution: Contribution?

    /// Asks the chain for everything it can; an unreachable chain gives `online == false`.
    public static func gather(wallet: Wallet, rpc: ChainRPC, rewardPool: Address, chainID: Int) async -> NodeStatus {
        var status = NodeStatus(agent: wallet.address, rpcURL: rpc.endpoint, online: false)
        do {
            status.chainID = try await rpc.chainID()
            status.online = true
        } catch {
            status.problems.append("\(error)")
            return status
        }
        if let id = status.chainID, id != BigUInt(chainID) {
            status.problems.append("the node reports chain id \(id), expected \(chainID)")
        }
        func attempt<T>(_ body: () async throws -> T) async -> T? {
            do { return try await body() } catch {
                status.problems.append("\(error)")
                return nil
            }
        }
        let agent = ChainAgent(rpc: rpc, wallet: wallet, chainID: chainID)
        let rewards = RewardTracker(agent: agent, pool: rewardPool)
        status.balance = await attempt { try await rpc.balance(of: wallet.address) }
        status.registered = await attempt { try await rpc.isAgentAccount(wallet.address) }
        status.active = await attempt { try await rpc.agentStatus(wallet.address).active }
        status.pendingReward = await attempt { try await rewards.pendingReward() }
        status.epoch = await attempt { try await rewards.currentEpoch() }
        status.contribution = await attempt { try await rewards.contribution() }
        return status
    }

    /// The seed's layout: one aligned line per fact.
    public var lines: [String] {
        func yesNo(_ b: Bool?) -> String { b.map { $0 ? "yes" : "no" } ?? "unknown" }
        var rows: [(String, String)] = [
            ("Agent address", agent.description),
            ("Chain", "\(chainID.map(String.init) ?? "?") at \(rpcURL)"),
            ("Online", online ? "yes" : "no"),
        ]
        if online {
            rows += [
                ("Balance", balance.map { PLM.format($0) } ?? "unknown"),
                ("Registered", yesNo(registered)),
                ("Active", yesNo(active)),
                ("Pending reward", pendingReward.map { PLM.format($0) } ?? "unknown"),
                ("Epoch", epoch.map(String.init) ?? "unknown"),
                ("Tasks completed", contribution.map { String($0.taskCount) } ?? "unknown"),
                ("Uptime", contribution.map { "\($0.uptimeSeconds) s" } ?? "unknown"),
            ]
        }
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }
            + problems.map { "note: \($0)" }
    }
}
