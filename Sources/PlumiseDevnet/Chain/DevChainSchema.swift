import BigInt
import GRDB
import PlumiseChain

/// The dev chain's SQLite schema. Amounts in wei are decimal TEXT (they exceed 64 bits);
/// addresses are lowercase 0x-hex.
enum DevChainSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "meta") { t in
                t.primaryKey("key", .text)
                t.column("value", .text).notNull()
            }
            try db.create(table: "account") { t in
                t.primaryKey("address", .text)
                t.column("balance", .text).notNull()
                t.column("nonce", .integer).notNull()
            }
            try db.create(table: "block") { t in
                t.primaryKey("number", .integer)
                t.column("hash", .text).notNull()
                t.column("timestamp", .integer).notNull()
                t.column("transactionHash", .text)
            }
            try db.create(table: "receipt") { t in
                t.primaryKey("hash", .text)
                t.column("blockNumber", .integer).notNull()
                t.column("sender", .text).notNull()
                t.column("recipient", .text)
                t.column("nonce", .integer).notNull()
                t.column("gasUsed", .integer).notNull()
                t.column("gasPrice", .text).notNull()
                t.column("status", .integer).notNull()
                t.column("revertReason", .text)
                t.column("raw", .blob).notNull()
            }
            try db.create(table: "agent") { t in
                t.primaryKey("address", .text)
                t.column("name", .text).notNull()
                t.column("modelHash", .blob).notNull()
                t.column("capabilities", .blob).notNull()
                t.column("registeredAt", .integer).notNull()
                t.column("lastHeartbeat", .integer).notNull()
                t.column("totalInferences", .integer).notNull()
            }
            try db.create(table: "inference") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("agent", .text).notNull().indexed()
                t.column("modelHash", .blob).notNull()
                t.column("inputHash", .blob).notNull()
                t.column("outputHash", .blob).notNull()
                t.column("tokenCount", .integer).notNull()
                t.column("proofHash", .blob).notNull()
                t.column("blockNumber", .integer).notNull()
            }
            // RewardPool: cumulative contributions and pending rewards per agent …
            try db.create(table: "contribution") { t in
                t.primaryKey("address", .text)
                t.column("taskCount", .integer).notNull()
                t.column("uptimeSeconds", .integer).notNull()
                t.column("responseScore", .integer).notNull()
                t.column("lastUpdated", .integer).notNull()
                t.column("pendingReward", .text).notNull()
            }
            // … each epoch's contributions, in reporting order (the last scorer gets the dust) …
            try db.create(table: "epochContribution") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("epoch", .integer).notNull()
                t.column("address", .text).notNull()
                t.column("taskCount", .integer).notNull()
                t.column("uptimeSeconds", .integer).notNull()
                t.column("responseScore", .integer).notNull()
                t.uniqueKey(["epoch", "address"])
            }
            // … and the epochs already distributed.
            try db.create(table: "epochDistribution") { t in
                t.primaryKey("epoch", .integer)
                t.column("totalReward", .text).notNull()
                t.column("agentCount", .integer).notNull()
            }
        }
        // What each agent has claimed in all (agent_getStatus's totalRewards).
        migrator.registerMigration("v2-claimed") { db in
            try db.alter(table: "contribution") { t in t.add(column: "claimedReward", .text).notNull().defaults(to: "0") }
        }
        return migrator
    }

    /// Block 0 and the funded accounts, once, when the database is new.
    static func genesisIfNeeded(_ db: Database, config: DevChainConfig) throws {
        guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM block") == 0 else { return }
        let now = config.clock()
        try db.execute(sql: "INSERT INTO block (number, hash, timestamp, transactionHash) VALUES (0, ?, ?, NULL)",
                       arguments: [Hex.encode(Keccak.hash256("plumise-devnet-genesis-\(config.chainID)")), now])
        for address in config.fundedAccounts {
            try Ledger.setBalance(db, address, config.fundedBalance)
        }
        try Ledger.setBalance(db, PlumiseAddresses.rewardPool, config.rewardPoolBalance)
        try Ledger.setMeta(db, "epoch", "0")
        try Ledger.setMeta(db, "epochStart", String(now))
        try Ledger.setMeta(db, "epochSeconds", String(config.epochSeconds))
    }
}
