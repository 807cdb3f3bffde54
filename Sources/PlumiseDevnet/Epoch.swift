import BigInt
import Foundation
import Logging
import PlumiseChain

/// The dev oracle's epoch job, as plumise-oracle's reporter does it: every interval, report each
/// agent's new contribution to the RewardPool (reportContribution, from the oracle account),
/// then distribute every ended epoch that got contributions, so rewards accrue and can be
/// claimed.
public final class EpochReporter: Sendable {
    public let store: DevOracleStore
    public let agent: ChainAgent
    public let interval: Double
    private let logger: Logger

    public struct Outcome: Equatable, Sendable {
        public var reported: [Address] = []
        /// Contributions the pool refused (e.g. an agent without a recent heartbeat); retried next time.
        public var refused: [Address] = []
        public var distributed: [Int] = []
    }

    /// `agent` signs with the oracle's key and talks to the dev chain.
    public init(store: DevOracleStore, agent: ChainAgent, interval: Double, logger: Logger = Logger(label: "plumise.devnet.epoch")) {
        self.store = store
        self.agent = agent
        self.interval = interval
        self.logger = logger
    }

    private var pool: RewardTracker { RewardTracker(agent: agent) }

    /// One round: contributions, then distributions.
    public func runOnce() async throws -> Outcome {
        var outcome = Outcome()
        let poolAddress = PlumiseAddresses.rewardPool
        for c in try await store.pendingContributions() {
            let before = Int(try await pool.currentEpoch())
            let data = ABI.call(RewardPool.Function.reportContribution.signature,
                                [.address(c.agent), .uint(BigUInt(c.taskCount)), .uint(BigUInt(c.uptimeSeconds)),
                                 .uint(BigUInt(c.responseScore))])
            let receipt = try await agent.send(to: poolAddress, data: data, gas: PlumiseAddresses.claimGas)
            let after = Int(try await pool.currentEpoch())
            if receipt.succeeded {
                // The transaction landed in `before` or `after`: both get distributed later.
                try await store.markContributed(c, epochs: [before, after])
                outcome.reported.append(c.agent)
                logger.info("contribution of \(c.agent): \(c.taskCount) tasks, \(c.uptimeSeconds) s, score \(c.responseScore)")
            } else {
                outcome.refused.append(c.agent)
                logger.warning("the RewardPool refused the contribution of \(c.agent) (tx \(receipt.transactionHash))")
            }
        }
        let current = Int(try await pool.currentEpoch())
        for epoch in try await store.pendingEpochs() where epoch < current {
            let data = ABI.call(RewardPool.Function.distributeRewards.signature, [.uint(BigUInt(epoch))])
            let receipt = try await agent.send(to: poolAddress, data: data, gas: PlumiseAddresses.claimGas)
            // Failing means the epoch was already distributed: nothing is left to do either way.
            try await store.markDistributed(epoch: epoch)
            if receipt.succeeded {
                outcome.distributed.append(epoch)
                logger.info("distributed the rewards of epoch \(epoch)")
            }
        }
        return outcome
    }

    /// Rounds every `interval` seconds until cancelled; failures are logged and retried.
    public func run() async {
        while !Task.isCancelled {
            do { try await Task.sleep(nanoseconds: UInt64(interval * 1e9)) } catch { return }
            do { _ = try await runOnce() } catch { logger.warning("epoch round failed (retrying next epoch): \(error)") }
        }
    }
}
