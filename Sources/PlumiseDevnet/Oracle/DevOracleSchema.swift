import GRDB

/// The dev oracle's SQLite schema: accepted reports and proofs, per-agent bookkeeping for
/// replay protection and epoch contributions, and pipeline assignments.
enum DevOracleSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "report") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("wallet", .text).notNull().indexed()
                t.column("tokensProcessed", .integer).notNull()
                t.column("avgLatencyMs", .double).notNull()
                t.column("uptimeSeconds", .integer).notNull()
                t.column("requestCount", .integer).notNull()
                t.column("timestamp", .integer).notNull()
                t.column("receivedAt", .integer).notNull()
                t.column("score", .double).notNull()
                t.column("proofCount", .integer).notNull()
            }
            // Per agent: the last accepted timestamp (strictly increasing), the latest report,
            // and what the last epoch contribution already counted.
            try db.create(table: "agentState") { t in
                t.primaryKey("wallet", .text)
                t.column("lastTimestamp", .integer).notNull()
                t.column("lastReportId", .integer).notNull()
                t.column("contributedReportId", .integer).notNull().defaults(to: 0)
                t.column("contributedProofId", .integer).notNull().defaults(to: 0)
                t.column("uptimeBaseline", .integer).notNull().defaults(to: 0)
            }
            try db.create(table: "proof") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("proofHash", .text).notNull().unique()
                t.column("wallet", .text).notNull().indexed()
                t.column("modelHash", .text).notNull()
                t.column("inputHash", .text).notNull()
                t.column("outputHash", .text).notNull()
                t.column("tokenCount", .integer).notNull()
                t.column("reportId", .integer).notNull()
                t.column("createdAt", .integer).notNull()
            }
            try db.create(table: "pipelineNode") { t in
                t.column("address", .text).notNull()
                t.column("model", .text).notNull()
                t.column("grpcEndpoint", .text).notNull()
                t.column("httpEndpoint", .text).notNull()
                t.column("ramMb", .integer).notNull()
                t.column("vramMb", .integer).notNull()
                t.column("device", .text).notNull()
                t.column("totalLayers", .integer).notNull()
                t.column("layerStart", .integer).notNull()
                t.column("layerEnd", .integer).notNull()
                t.column("pipelineOrder", .integer).notNull()
                t.column("ready", .boolean).notNull()
                t.column("createdAt", .integer).notNull()
                t.column("updatedAt", .integer).notNull()
                t.column("lastRegisterTimestamp", .integer).notNull()
                t.column("lastReadyTimestamp", .integer).notNull()
                t.primaryKey(["address", "model"])
            }
            // Chain epochs that got contributions and still await distributeRewards.
            try db.create(table: "pendingEpoch") { t in
                t.primaryKey("epoch", .integer)
            }
        }
        // Facts of the real oracle (mikusnuz/plumise-oracle): every proof is stored, none is
        // deduplicated (proof.service.ts saveProof); tokens accumulate as deltas of cumulative
        // reports (metrics.service.ts recordMetrics); nodes register their endpoints
        // (agent_nodes, nodes.service.ts); replay guards are per address (nodes.service.ts,
        // pipeline.service.ts lastRegistrationTimestamp / lastReadyTimestamp).
        migrator.registerMigration("v2-real-oracle") { db in
            try db.create(table: "proofV2") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("wallet", .text).notNull().indexed()
                t.column("modelHash", .text).notNull()
                t.column("inputHash", .text).notNull()
                t.column("outputHash", .text).notNull()
                t.column("tokenCount", .integer).notNull()
                t.column("reportId", .integer).notNull()
                t.column("createdAt", .integer).notNull()
            }
            try db.execute(sql: """
                INSERT INTO proofV2 (id, wallet, modelHash, inputHash, outputHash, tokenCount, reportId, createdAt)
                SELECT id, wallet, modelHash, inputHash, outputHash, tokenCount, reportId, createdAt FROM proof
                """)
            try db.drop(table: "proof")
            try db.rename(table: "proofV2", to: "proof")
            try db.alter(table: "agentState") { t in
                t.add(column: "lastRawTokens", .integer).notNull().defaults(to: 0)
                t.add(column: "lastRawRequests", .integer).notNull().defaults(to: 0)
                t.add(column: "tokensAccumulated", .integer).notNull().defaults(to: 0)
                t.add(column: "requestsAccumulated", .integer).notNull().defaults(to: 0)
            }
            try db.alter(table: "pipelineNode") { t in
                t.add(column: "benchmarkTokPerSec", .double).notNull().defaults(to: 0)
            }
            try db.create(table: "node") { t in
                t.primaryKey("address", .text)
                t.column("endpoint", .text).notNull()
                t.column("capabilities", .text).notNull()
                t.column("status", .text).notNull()
                t.column("score", .double).notNull()
                t.column("lastHeartbeat", .integer).notNull()
                t.column("lastMetricReport", .integer).notNull()
                t.column("benchmarkTokPerSec", .double).notNull()
                t.column("createdAt", .integer).notNull()
                t.column("updatedAt", .integer).notNull()
            }
            try db.create(table: "replayGuard") { t in
                t.column("kind", .text).notNull()
                t.column("address", .text).notNull()
                t.column("lastTimestamp", .integer).notNull()
                t.primaryKey(["kind", "address"])
            }
        }
        return migrator
    }
}
