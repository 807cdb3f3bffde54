import BigInt
import Foundation
import Logging
import PlumiseChain

/// What the dev oracle does on the dev chain, as plumise-oracle does it on the real one:
/// asks agent_isAgentAccount with [address, "latest"] (any failure counts as "not registered",
/// nodes.service.ts isAgentRegisteredOnChain), and from the oracle account sponsors agents that
/// have no PLM: registrations (0x21 with a beneficiary word: nodes.service.ts
/// sponsorAgentRegistration, chain.service.ts sponsorRegisterAgent), heartbeats (0x22 with the
/// agent's word: chain.service.ts sponsorHeartbeat) and reward claims (0x23 with the agent's
/// word: monitor.service.ts sendSponsoredClaimRewards).
public struct OracleChain: Sendable {
    /// The chain's URL (known once the dev chain listens).
    let chainURL: @Sendable () async throws -> String
    let chainID: Int
    let wallet: Wallet

    public init(chainURL: @escaping @Sendable () async throws -> String, chainID: Int, wallet: Wallet = DevAccounts.oracle.wallet) {
        self.chainURL = chainURL
        self.chainID = chainID
        self.wallet = wallet
    }

    func agent() async throws -> ChainAgent {
        var agent = ChainAgent(rpc: ChainRPC(url: try await chainURL(), timeoutSeconds: 5), wallet: wallet, chainID: chainID)
        agent.receiptTimeout = 30
        agent.pollInterval = 0.05
        return agent
    }

    public func isAgent(_ address: Address) async -> Bool {
        guard let rpc = try? await agent().rpc else { return false }
        return (try? await rpc.isAgentAccount(address)) ?? false
    }

    /// 0x21 from the oracle: name ‖ modelHash ‖ capCount 0 ‖ the agent as beneficiary. Returns
    /// whether the transaction succeeded.
    public func sponsorRegistration(of address: Address, name: String, modelHash: [UInt8]) async throws -> Bool {
        let data = ABI.word(.bytes32(Array(name.utf8.prefix(32)))) + ABI.word(.bytes32(modelHash)) + ABI.word(.uint(0))
            + ABI.word(.address(address))
        return try await agent().send(to: PlumiseAddresses.agentRegister, data: data, gas: PlumiseAddresses.registerGas).succeeded
    }

    public func sponsorHeartbeat(of address: Address) async throws -> Bool {
        try await agent().send(to: PlumiseAddresses.agentHeartbeat, data: ABI.word(.address(address)),
                               gas: PlumiseAddresses.heartbeatGas).succeeded
    }

    public func pendingReward(of address: Address) async throws -> BigUInt {
        try await RewardTracker(agent: ChainAgent(rpc: try await agent().rpc, wallet: wallet, chainID: chainID)).pendingReward(for: address)
    }

    /// 0x23 from the oracle for `address`; returns whether it succeeded.
    public func sponsorClaim(of address: Address) async throws -> Bool {
        try await agent().send(to: PlumiseAddresses.claimReward, data: ABI.word(.address(address)),
                               gas: PlumiseAddresses.claimGas).succeeded
    }
}

/// The oracle's timed chain jobs: every `claimInterval` (plumise-oracle: hourly) a sponsored
/// 0x23 claim for each active node with a pending reward; every `heartbeatInterval` (5 minutes)
/// a sponsored heartbeat for each active pipeline node (pipeline.service.ts
/// sendSponsoredHeartbeats).
public struct OracleSponsorJobs: Sendable {
    public let store: DevOracleStore
    public let chain: OracleChain
    public let clock: @Sendable () -> Int
    public var activeWindowSeconds = 600
    let logger: Logger

    public init(store: DevOracleStore, chain: OracleChain, clock: @escaping @Sendable () -> Int,
                logger: Logger = Logger(label: "plumise.devnet.oracle")) {
        self.store = store
        self.chain = chain
        self.clock = clock
        self.logger = logger
    }

    /// One sponsored-claim cycle; returns the agents whose claim succeeded.
    @discardableResult
    public func claimRewards() async -> [Address] {
        var claimed: [Address] = []
        let nodes = (try? await store.activeNodes(since: clock() - activeWindowSeconds)) ?? []
        for node in nodes {
            guard let address = try? Address(node.address) else { continue }
            do {
                let pending = try await chain.pendingReward(of: address)
                guard pending > 0 else { continue }
                if try await chain.sponsorClaim(of: address) {
                    claimed.append(address)
                    logger.info("sponsored claim of \(PLM.format(pending)) for \(address)")
                } else {
                    logger.warning("sponsored claim for \(address) reverted")
                }
            } catch {
                logger.warning("sponsored claim for \(address) failed: \(error)")
            }
        }
        return claimed
    }

    /// One sponsored-heartbeat cycle over active pipeline nodes.
    public func beat() async {
        let nodes = (try? await store.pipelineNodes(activeSince: clock() - activeWindowSeconds)) ?? []
        for address in Set(nodes.map(\.nodeAddress)) {
            guard let agent = try? Address(address) else { continue }
            do { _ = try await chain.sponsorHeartbeat(of: agent) } catch { logger.debug("sponsored heartbeat for \(agent) failed: \(error)") }
        }
    }
}
