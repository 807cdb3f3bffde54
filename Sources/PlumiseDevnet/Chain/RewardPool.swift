import Foundation
import BigInt
import GRDB
import PlumiseChain

/// The RewardPool system contract at 0x…1000, with plumise-contracts' semantics: the oracle
/// reports contributions per epoch, anyone distributes an ended epoch's reward in proportion to
/// taskCount×50 + uptimeSeconds×30 + responseScore×20, agents claim what is pending.
enum RewardPool {
    static let maxTaskCount = 10_000
    static let maxUptimeSeconds = 604_800
    static let maxResponseScore = 1_000_000
    static let weights = (task: 50, uptime: 30, response: 20)

    enum Function: CaseIterable {
        case getPendingReward, getContribution, getCurrentEpoch, claimReward, reportContribution, distributeRewards

        var signature: String {
            switch self {
            case .getPendingReward: return "getPendingReward(address)"
            case .getContribution: return "getContribution(address)"
            case .getCurrentEpoch: return "getCurrentEpoch()"
            case .claimReward: return "claimReward()"
            case .reportContribution: return "reportContribution(address,uint256,uint256,uint256)"
            case .distributeRewards: return "distributeRewards(uint256)"
            }
        }

        var argumentCount: Int {
            switch self {
            case .getCurrentEpoch, .claimReward: return 0
            case .getPendingReward, .getContribution, .distributeRewards: return 1
            case .reportContribution: return 4
            }
        }
    }

    private static let selectors = Dictionary(uniqueKeysWithValues: Function.allCases.map { (ABI.selector($0.signature), $0) })

    /// The function `data` calls and its argument words.
    static func decode(_ data: [UInt8]) throws -> (Function, [[UInt8]]) {
        guard data.count >= 4, let function = selectors[Array(data.prefix(4))] else {
            throw Revert("RewardPool has no function with selector \(Hex.encode(data.prefix(4)))")
        }
        let words = try ABI.words(Array(data.dropFirst(4)), count: function.argumentCount)
        return (function, words)
    }

    // MARK: Views (eth_call)

    static func view(_ db: Database, data: [UInt8], now: Int) throws -> [UInt8] {
        let (function, args) = try decode(data)
        switch function {
        case .getPendingReward:
            return ABI.word(.uint(try contribution(db, try ABI.address(args[0])).pendingReward))
        case .getContribution:
            let c = try contribution(db, try ABI.address(args[0]))
            return [c.taskCount, c.uptimeSeconds, c.responseScore, c.lastUpdated].flatMap { ABI.word(.uint(BigUInt($0))) }
        case .getCurrentEpoch:
            return ABI.word(.uint(BigUInt(try Ledger.currentEpoch(db, now: now))))
        case .claimReward, .reportContribution, .distributeRewards:
            throw Revert("\(function.signature) changes state: send it as a transaction")
        }
    }

    // MARK: Transactions

    static func execute(_ db: Database, _ call: CallContext) throws {
        let (function, args) = try decode(call.data)
        let epoch = try Ledger.currentEpoch(db, now: call.timestamp)
        switch function {
        case .getPendingReward, .getContribution, .getCurrentEpoch:
            return // a view called in a transaction changes nothing
        case .claimReward:
            try claim(db, agent: call.sender)
        case .reportContribution:
            try report(db, call, agent: try ABI.address(args[0]), task: try small(args[1]), uptime: try small(args[2]),
                       response: try small(args[3]), epoch: epoch)
        case .distributeRewards:
            try distribute(db, epoch: try small(args[0]), current: epoch, reward: call.config.epochReward)
        }
    }

    private static func small(_ word: [UInt8]) throws -> Int {
        let value = ABI.uint(word)
        guard value <= BigUInt(Int64.max) else { throw Revert("argument \(value) is out of range") }
        return Int(value)
    }

    struct Contribution {
        var taskCount = 0, uptimeSeconds = 0, responseScore = 0, lastUpdated = 0
        var pendingReward = BigUInt(0)
    }

    static func contribution(_ db: Database, _ agent: Address) throws -> Contribution {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM contribution WHERE address = ?", arguments: [Ledger.key(agent)]) else {
            return Contribution()
        }
        return Contribution(taskCount: row["taskCount"], uptimeSeconds: row["uptimeSeconds"], responseScore: row["responseScore"],
                            lastUpdated: row["lastUpdated"], pendingReward: BigUInt(row["pendingReward"] as String) ?? 0)
    }

    private static func save(_ db: Database, _ agent: Address, _ c: Contribution) throws {
        try db.execute(sql: """
            INSERT INTO contribution (address, taskCount, uptimeSeconds, responseScore, lastUpdated, pendingReward)
            VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(address) DO UPDATE SET taskCount = excluded.taskCount, uptimeSeconds = excluded.uptimeSeconds,
              responseScore = excluded.responseScore, lastUpdated = excluded.lastUpdated, pendingReward = excluded.pendingReward
            """, arguments: [Ledger.key(agent), c.taskCount, c.uptimeSeconds, c.responseScore, c.lastUpdated, String(c.pendingReward)])
    }

    private static func report(_ db: Database, _ call: CallContext, agent: Address, task: Int, uptime: Int, response: Int,
                               epoch: Int) throws {
        guard call.sender == call.config.oracle else { throw Revert("only the oracle \(call.config.oracle) reports contributions") }
        guard task <= maxTaskCount else { throw Revert("task count too high") }
        guard uptime <= maxUptimeSeconds else { throw Revert("uptime too high") }
        guard response <= maxResponseScore else { throw Revert("response score too high") }
        guard let record = try AgentPrecompiles.agent(db, agent) else { throw Revert("\(agent) is not a registered agent") }
        guard record.isActive(now: call.timestamp, window: call.config.activeWindowSeconds) else {
            throw Revert("\(agent) is not active (no heartbeat for \(call.config.activeWindowSeconds) s)")
        }
        var total = try contribution(db, agent)
        total.taskCount += task
        total.uptimeSeconds += uptime
        total.responseScore += response
        total.lastUpdated = call.timestamp
        try save(db, agent, total)
        try db.execute(sql: """
            INSERT INTO epochContribution (epoch, address, taskCount, uptimeSeconds, responseScore) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(epoch, address) DO UPDATE SET taskCount = taskCount + excluded.taskCount,
              uptimeSeconds = uptimeSeconds + excluded.uptimeSeconds, responseScore = responseScore + excluded.responseScore
            """, arguments: [epoch, Ledger.key(agent), task, uptime, response])
    }

    /// Splits `reward` over the epoch's agents by score; the last scoring agent gets the
    /// rounding dust so the whole reward is handed out.
    private static func distribute(_ db: Database, epoch: Int, current: Int, reward: BigUInt) throws {
        guard epoch < current else { throw Revert("epoch \(epoch) has not ended (current epoch \(current))") }
        guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM epochDistribution WHERE epoch = ?", arguments: [epoch]) == 0 else {
            throw Revert("epoch \(epoch) is already distributed")
        }
        let rows = try Row.fetchAll(db, sql: "SELECT * FROM epochContribution WHERE epoch = ? ORDER BY id", arguments: [epoch])
        let scored: [(Address, BigUInt)] = try rows.map { row in
            let score = BigUInt(row["taskCount"] as Int) * BigUInt(weights.task) + BigUInt(row["uptimeSeconds"] as Int) * BigUInt(weights.uptime)
                + BigUInt(row["responseScore"] as Int) * BigUInt(weights.response)
            return (try Address(row["address"] as String), score)
        }.filter { $0.1 > 0 }
        let totalScore = scored.reduce(BigUInt(0)) { $0 + $1.1 }
        var distributed = BigUInt(0)
        for (i, (agent, score)) in scored.enumerated() {
            let share = i == scored.count - 1 ? reward - distributed : reward * score / totalScore
            var c = try contribution(db, agent)
            c.pendingReward += share
            try save(db, agent, c)
            distributed += share
        }
        try db.execute(sql: "INSERT INTO epochDistribution (epoch, totalReward, agentCount) VALUES (?, ?, ?)",
                       arguments: [epoch, String(distributed), scored.count])
    }

    /// claimReward() for the sender and claimRewardFor(agent) behind precompile 0x23: both require
    /// AgentRegistry.isRegistered ("Not registered") and a pending reward ("No rewards"), and pay
    /// the agent (plumise-contracts src/RewardPool.sol). The devnet's registry is the 0x21 record.
    static func claim(_ db: Database, agent: Address) throws {
        guard try AgentPrecompiles.agent(db, agent) != nil else { throw Revert("Not registered") }
        var c = try contribution(db, agent)
        guard c.pendingReward > 0 else { throw Revert("No rewards") }
        let amount = c.pendingReward
        c.pendingReward = 0
        try save(db, agent, c)
        try db.execute(sql: "UPDATE contribution SET claimedReward = ? WHERE address = ?",
                       arguments: [String(try claimed(db, agent) + amount), Ledger.key(agent)])
        try Ledger.transfer(db, from: PlumiseAddresses.rewardPool, to: agent, amount: amount)
    }

    /// Everything `agent` has claimed.
    static func claimed(_ db: Database, _ agent: Address) throws -> BigUInt {
        let text = try String.fetchOne(db, sql: "SELECT claimedReward FROM contribution WHERE address = ?",
                                       arguments: [Ledger.key(agent)])
        return text.flatMap { BigUInt($0) } ?? 0
    }
}
