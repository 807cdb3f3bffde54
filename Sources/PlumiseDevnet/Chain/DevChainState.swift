import BigInt
import Foundation
import GRDB
import PlumiseChain

/// A mined transaction's receipt.
public struct DevReceipt: Equatable, Sendable {
    public let transactionHash: String
    public let blockNumber: Int
    public let blockHash: String
    public let from: Address
    public let to: Address?
    public let nonce: Int
    public let gasUsed: Int
    public let gasPrice: BigUInt
    public let succeeded: Bool
    /// Why the call failed, when it did.
    public let revertReason: String?
}

/// The dev chain's state in one SQLite file: accounts, blocks, receipts, agents and the
/// RewardPool. Every transaction is checked (signature, chain id, nonce, funds) and mined at
/// once into its own block, in one database transaction, so a crash never leaves half a block.
public final class DevChainState: Sendable {
    public let config: DevChainConfig
    private let database: DatabaseQueue

    /// Opens (or creates, with genesis) the chain at `path`.
    public init(path: String, config: DevChainConfig = DevChainConfig()) throws {
        self.config = config
        database = try DatabaseQueue(path: path)
        try DevChainSchema.migrator.migrate(database)
        try database.write { db in
            try DevChainSchema.genesisIfNeeded(db, config: config)
            try Ledger.rebaseEpochs(db, now: config.clock(), seconds: config.epochSeconds)
        }
    }

    /// Closes the database file (the state stays on disk for the next open).
    public func close() throws { try database.close() }

    // MARK: Reads

    public func blockNumber() async throws -> Int { try await database.read { try Ledger.blockNumber($0) } }

    public func balance(of address: Address) async throws -> BigUInt {
        try await database.read { try Ledger.balance($0, address) }
    }

    public func nonce(of address: Address) async throws -> Int {
        try await database.read { try Ledger.nonce($0, address) }
    }

    public func agent(_ address: Address) async throws -> AgentRecord? {
        try await database.read { try AgentPrecompiles.agent($0, address) }
    }

    /// What `address` has claimed from the RewardPool in all.
    public func claimedReward(of address: Address) async throws -> BigUInt {
        try await database.read { try RewardPool.claimed($0, address) }
    }

    /// The RewardPool epoch at Unix second `now` (a short synchronous read).
    public func epoch(at now: Int) throws -> Int {
        try database.read { try Ledger.currentEpoch($0, now: now) }
    }

    public func currentEpoch() async throws -> Int {
        let now = config.clock()
        return try await database.read { try Ledger.currentEpoch($0, now: now) }
    }

    public func receipt(of hash: String) async throws -> DevReceipt? {
        try await database.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT receipt.*, block.hash AS blockHash FROM receipt JOIN block ON block.number = receipt.blockNumber
                WHERE receipt.hash = ?
                """, arguments: [hash.lowercased()]) else { return nil }
            return DevReceipt(
                transactionHash: row["hash"], blockNumber: row["blockNumber"], blockHash: row["blockHash"],
                from: try Address(row["sender"] as String), to: try (row["recipient"] as String?).map { try Address($0) },
                nonce: row["nonce"], gasUsed: row["gasUsed"], gasPrice: BigUInt(row["gasPrice"] as String) ?? 0,
                succeeded: row["status"] as Int == 1, revertReason: row["revertReason"])
        }
    }

    /// eth_call: the RewardPool's views; a call from `from` to a precompile runs it and rolls it
    /// back (how a client learns why a transaction would revert, as with geth); other accounts
    /// have no code and return nothing.
    public func call(from: Address? = nil, to: Address, data: [UInt8]) async throws -> [UInt8] {
        let now = config.clock()
        if Self.precompiles.contains(to) {
            let config = self.config
            let sender = from ?? Address.system(0)
            return try await database.write { db in
                let number = try Ledger.blockNumber(db) + 1
                let call = CallContext(sender: sender, data: data, blockNumber: number, timestamp: now, config: config)
                do {
                    try db.inSavepoint {
                        try Self.execute(db, call, to: to, value: 0)
                        return .rollback
                    }
                } catch let revert as Revert {
                    throw DevChainError.reverted(revert.reason)
                }
                return []
            }
        }
        return try await database.read { db in
            guard to == PlumiseAddresses.rewardPool else { return [] }
            do { return try RewardPool.view(db, data: data, now: now) } catch let revert as Revert {
                throw DevChainError.reverted(revert.reason)
            }
        }
    }

    static let precompiles: Set<Address> = [PlumiseAddresses.verifyInference, PlumiseAddresses.agentRegister,
                                            PlumiseAddresses.agentHeartbeat, PlumiseAddresses.claimReward]

    // MARK: Transactions

    /// Validates and mines a raw signed transaction; returns its hash. Throws
    /// ``DevChainError/rejected(_:)`` when it cannot enter a block (then nothing changes). A
    /// call that fails is still mined, with status 0, a fee and the next nonce.
    public func sendRawTransaction(_ raw: [UInt8]) async throws -> String {
        let tx: SignedTransaction
        do { tx = try SignedTransaction.decode(raw: raw) } catch { throw DevChainError.rejected("invalid transaction: \(error)") }
        let config = self.config
        return try await database.write { db in try Self.mine(db, tx, config: config) }
    }

    /// 21000 + 16 per non-zero and 4 per zero byte of input (Ethereum's intrinsic gas).
    static func intrinsicGas(_ data: [UInt8]) -> Int {
        21_000 + data.reduce(0) { $0 + ($1 == 0 ? 4 : 16) }
    }

    private static func mine(_ db: Database, _ signed: SignedTransaction, config: DevChainConfig) throws -> String {
        let tx = signed.transaction, sender = signed.sender, hash = signed.hashHex
        guard tx.chainID == BigUInt(config.chainID) else {
            throw DevChainError.rejected("invalid chain id: the transaction is signed for chain \(tx.chainID), this chain is \(config.chainID)")
        }
        guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM receipt WHERE hash = ?", arguments: [hash]) == 0 else {
            throw DevChainError.rejected("already known: \(hash)")
        }
        let nonce = try Ledger.nonce(db, sender)
        guard tx.nonce == BigUInt(nonce) else {
            let kind = tx.nonce < BigUInt(nonce) ? "nonce too low" : "nonce too high"
            throw DevChainError.rejected("\(kind): \(sender) has next nonce \(nonce), the transaction has \(tx.nonce)")
        }
        let gas = intrinsicGas(tx.data)
        guard tx.gasLimit >= BigUInt(gas) else {
            throw DevChainError.rejected("intrinsic gas too low: gas limit \(tx.gasLimit), needs \(gas)")
        }
        let balance = try Ledger.balance(db, sender)
        let cost = tx.gasLimit * tx.gasPrice + tx.value
        guard balance >= cost else {
            throw DevChainError.rejected("insufficient funds for gas * price + value: \(sender) has \(balance) wei, needs \(cost)")
        }

        let parent = try Row.fetchOne(db, sql: "SELECT number, hash, timestamp FROM block ORDER BY number DESC LIMIT 1")
        let number = (parent?["number"] as Int? ?? 0) + 1
        let timestamp = max(config.clock(), parent?["timestamp"] as Int? ?? 0)
        let call = CallContext(sender: sender, data: tx.data, blockNumber: number, timestamp: timestamp, config: config)
        var revertReason: String?
        do {
            try db.inSavepoint {
                try execute(db, call, to: tx.to, value: tx.value)
                return .commit
            }
        } catch let revert as Revert {
            revertReason = revert.reason
        }
        let fee = BigUInt(gas) * tx.gasPrice
        try Ledger.setBalance(db, sender, try Ledger.balance(db, sender) - fee)
        try Ledger.setNonce(db, sender, nonce + 1)

        let parentHash = parent?["hash"] as String? ?? ""
        let blockHash = Hex.encode(Keccak.hash256(Array("\(number)|\(parentHash)|\(hash)|\(timestamp)".utf8)))
        try db.execute(sql: "INSERT INTO block (number, hash, timestamp, transactionHash) VALUES (?, ?, ?, ?)",
                       arguments: [number, blockHash, timestamp, hash])
        try db.execute(sql: """
            INSERT INTO receipt (hash, blockNumber, sender, recipient, nonce, gasUsed, gasPrice, status, revertReason, raw)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [hash, number, Ledger.key(sender), tx.to.map(Ledger.key), nonce, gas, String(tx.gasPrice),
                             revertReason == nil ? 1 : 0, revertReason, Data(signed.raw)])
        return hash
    }

    /// Runs the call: value first, then the precompile or system contract at `to`.
    private static func execute(_ db: Database, _ call: CallContext, to: Address?, value: BigUInt) throws {
        guard let to else { throw Revert("contract creation is not supported on the devnet") }
        try Ledger.transfer(db, from: call.sender, to: to, amount: value)
        switch to {
        case PlumiseAddresses.agentRegister: try AgentPrecompiles.register(db, call)
        case PlumiseAddresses.agentHeartbeat: try AgentPrecompiles.heartbeat(db, call)
        case PlumiseAddresses.verifyInference: try AgentPrecompiles.verifyInference(db, call)
        case PlumiseAddresses.claimReward: try AgentPrecompiles.claimReward(db, call)
        case PlumiseAddresses.rewardPool: try RewardPool.execute(db, call)
        default: break // a plain transfer
        }
    }
}
