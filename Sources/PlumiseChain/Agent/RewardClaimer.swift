import BigInt
import Foundation

/// When and how the node claims its RewardPool rewards.
///
/// The network's rule (plumise-oracle monitor.service.ts, sendSponsoredClaimRewards): every hour
/// the oracle sends a sponsored claim through precompile 0x23 for each active node with a pending
/// reward, paying the gas itself; plumise-agent removed its own claim loop for that reason. A node
/// that also claims races the oracle and pays gas for nothing. So this claimer only claims, with
/// 0x23 and empty data (plumise-contracts test/e2e/testnet-e2e.ts), a reward that has stayed
/// pending longer than `claimAfter` (default: past the oracle's hourly cycle), when the agent can
/// pay the gas, and never sends again a claim that reverted until the pending amount changes.
public final class RewardClaimer: @unchecked Sendable {
    public let tracker: RewardTracker
    /// Smallest pending reward worth claiming.
    public let threshold: BigUInt
    /// How long a reward must have stayed pending before this node claims it itself (0: at once).
    public let claimAfter: TimeInterval
    private let clock: @Sendable () -> Date
    private let lock = NSLock()
    private var pendingSince: Date?
    private var lastPending: BigUInt = 0
    /// The pending amount of the last claim that reverted: not retried until it changes.
    private var revertedAt: BigUInt?

    /// The oracle's sponsored-claim period plus a margin for its cycle to finish.
    public static let defaultClaimAfter: TimeInterval = 3600 + 900

    public init(tracker: RewardTracker, threshold: BigUInt = BigUInt(10).power(18),
                claimAfter: TimeInterval = RewardClaimer.defaultClaimAfter,
                clock: @escaping @Sendable () -> Date = { Date() }) {
        self.tracker = tracker
        self.threshold = threshold
        self.claimAfter = claimAfter
        self.clock = clock
    }

    public enum Outcome: Equatable, Sendable {
        case nothingPending
        case belowThreshold(pending: BigUInt)
        /// Pending for `waited` seconds of the `claimAfter` the oracle gets to claim it first.
        case waitingForSponsor(pending: BigUInt, waited: TimeInterval)
        /// The agent's balance cannot pay the claim's gas (the oracle's claim will).
        case noBalance(pending: BigUInt, balance: BigUInt)
        /// The last claim of this amount reverted; nothing new justifies another.
        case skippedAfterRevert(pending: BigUInt)
        case claimed(amount: BigUInt, receipt: TransactionReceipt)
    }

    /// One check: reads the pending reward and claims it when the rule above allows.
    public func check() async throws -> Outcome {
        let pending = try await tracker.pendingReward()
        let now = clock()
        let since: Date = lock.withLock {
            if pending == 0 || pending < lastPending || pendingSince == nil { pendingSince = pending == 0 ? nil : now }
            if pending != lastPending { revertedAt = nil }
            lastPending = pending
            return pendingSince ?? now
        }
        guard pending > 0 else { return .nothingPending }
        guard pending >= threshold else { return .belowThreshold(pending: pending) }
        let waited = now.timeIntervalSince(since)
        guard waited >= claimAfter else { return .waitingForSponsor(pending: pending, waited: waited) }
        if lock.withLock({ revertedAt == pending }) { return .skippedAfterRevert(pending: pending) }

        let agent = tracker.agent
        let balance = try await agent.rpc.balance(of: agent.address)
        let gasCost = try await agent.rpc.gasPrice() * BigUInt(PlumiseAddresses.claimPrecompileGas)
        guard balance >= gasCost else { return .noBalance(pending: pending, balance: balance) }
        do {
            let receipt = try await agent.sendExpectingSuccess("claimReward (0x23)", to: PlumiseAddresses.claimReward,
                                                               data: [], gas: PlumiseAddresses.claimPrecompileGas)
            lock.withLock {
                pendingSince = nil
                lastPending = 0
            }
            return .claimed(amount: pending, receipt: receipt)
        } catch let error as AgentError {
            lock.withLock { revertedAt = pending }
            throw error
        }
    }
}
