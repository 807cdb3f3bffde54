import Foundation
import GRDB
import PlumiseChain

/// An agent's latest accepted counters and score (GET /api/v1/metrics/agents/:address).
public struct AgentMetrics: Codable, Equatable, Sendable {
    public let address: String
    public let tokensProcessed: Int
    public let avgLatencyMs: Double
    public let requestCount: Int
    public let uptimeSeconds: Int
    /// The timestamp of the latest accepted report.
    public let lastUpdated: Int
    public let score: Double
    public let reports: Int
    public let proofs: Int
    /// When the oracle received the latest report (its clock).
    public let lastReportAt: Int
}

/// A proof as stored (GET /api/v1/proofs/:address).
public struct StoredProof: Codable, Equatable, Sendable {
    public let id: Int
    public let agentAddress: String
    public let modelHash: String
    public let inputHash: String
    public let outputHash: String
    public let tokenCount: Int
    public let proofHash: String
    public let createdAt: Int
}

/// What the next epoch report tells the RewardPool about one agent.
public struct PendingContribution: Equatable, Sendable {
    public let agent: Address
    public let taskCount: Int
    public let uptimeSeconds: Int
    public let responseScore: Int
    /// Bookkeeping: what this contribution counted up to.
    let reportID: Int, proofID: Int, uptime: Int
}

/// The dev oracle's SQLite store (GRDB). Replay protection is part of storing: the timestamp
/// check and the insert happen in one transaction.
public final class DevOracleStore: Sendable {
    private let database: DatabaseQueue

    public init(path: String) throws {
        database = try DatabaseQueue(path: path)
        try DevOracleSchema.migrator.migrate(database)
    }

    public func close() throws { try database.close() }

    static func key(_ address: Address) -> String { address.lowercased }

    // MARK: Reports

    /// Stores an accepted report and its proofs; throws ``OracleRejection/replayed(timestamp:last:)``
    /// unless its timestamp is greater than the agent's last accepted one.
    @discardableResult
    public func accept(_ report: OracleReport, agent: Address, score: Double, receivedAt: Int) async throws -> Int {
        try await database.write { db in
            let wallet = Self.key(agent)
            let last = try Int.fetchOne(db, sql: "SELECT lastTimestamp FROM agentState WHERE wallet = ?", arguments: [wallet])
            if let last, report.timestamp <= last { throw OracleRejection.replayed(timestamp: report.timestamp, last: last) }
            let proofs = report.proofs ?? []
            try db.execute(sql: """
                INSERT INTO report (wallet, tokensProcessed, avgLatencyMs, uptimeSeconds, requestCount, timestamp, receivedAt, score, proofCount)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [wallet, report.tokensProcessed, report.avgLatencyMs, report.uptimeSeconds, report.requestCount,
                                 report.timestamp, receivedAt, score, proofs.count])
            let id = Int(db.lastInsertedRowID)
            try db.execute(sql: """
                INSERT INTO agentState (wallet, lastTimestamp, lastReportId) VALUES (?, ?, ?)
                ON CONFLICT(wallet) DO UPDATE SET lastTimestamp = excluded.lastTimestamp, lastReportId = excluded.lastReportId
                """, arguments: [wallet, report.timestamp, id])
            for proof in proofs {
                // A proof sent twice (a retried report) is stored once.
                try db.execute(sql: """
                    INSERT OR IGNORE INTO proof (proofHash, wallet, modelHash, inputHash, outputHash, tokenCount, reportId, createdAt)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [Hex.encode(proof.proofHash), wallet, Hex.encode(proof.modelHash), Hex.encode(proof.inputHash),
                                     Hex.encode(proof.outputHash), proof.tokenCount, id, receivedAt])
            }
            // A report is also a liveness signal for the agent's pipeline entries.
            try db.execute(sql: "UPDATE pipelineNode SET updatedAt = ? WHERE address = ?", arguments: [receivedAt, wallet])
            return id
        }
    }

    public func metrics(of agent: Address) async throws -> AgentMetrics? {
        try await database.read { db in try Self.metrics(db, where: "s.wallet = ?", [Self.key(agent)]).first }
    }

    /// Agents whose latest report arrived at or after `since`.
    public func activeAgents(since: Int) async throws -> [AgentMetrics] {
        try await database.read { db in try Self.metrics(db, where: "r.receivedAt >= ?", [since]) }
    }

    private static func metrics(_ db: Database, where condition: String, _ arguments: StatementArguments) throws -> [AgentMetrics] {
        try Row.fetchAll(db, sql: """
            SELECT r.*, s.wallet AS address,
              (SELECT COUNT(*) FROM report WHERE wallet = s.wallet) AS reports,
              (SELECT COUNT(*) FROM proof WHERE wallet = s.wallet) AS proofs
            FROM agentState s JOIN report r ON r.id = s.lastReportId
            WHERE \(condition) ORDER BY s.wallet
            """, arguments: arguments).map { row in
            AgentMetrics(address: (try? Address(row["address"] as String).description) ?? row["address"],
                         tokensProcessed: row["tokensProcessed"], avgLatencyMs: row["avgLatencyMs"], requestCount: row["requestCount"],
                         uptimeSeconds: row["uptimeSeconds"], lastUpdated: row["timestamp"], score: row["score"],
                         reports: row["reports"], proofs: row["proofs"], lastReportAt: row["receivedAt"])
        }
    }

    /// The newest proofs of `agent` first.
    public func proofs(of agent: Address, limit: Int = 100) async throws -> [StoredProof] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM proof WHERE wallet = ? ORDER BY id DESC LIMIT ?",
                             arguments: [Self.key(agent), limit]).map { row in
                StoredProof(id: row["id"], agentAddress: agent.description, modelHash: row["modelHash"], inputHash: row["inputHash"],
                            outputHash: row["outputHash"], tokenCount: row["tokenCount"], proofHash: row["proofHash"],
                            createdAt: row["createdAt"])
            }
        }
    }

    // MARK: Epoch contributions

    /// One contribution per agent that reported since its last contribution: proofs received
    /// since (tasks), uptime gained since (a restarted node counts from zero), and its latest
    /// score as the response score (capped at the RewardPool's maximum).
    public func pendingContributions() async throws -> [PendingContribution] {
        try await database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT s.*, r.uptimeSeconds, r.score,
                  (SELECT COUNT(*) FROM proof p WHERE p.wallet = s.wallet AND p.id > s.contributedProofId) AS tasks,
                  (SELECT COALESCE(MAX(id), 0) FROM proof p WHERE p.wallet = s.wallet) AS maxProof
                FROM agentState s JOIN report r ON r.id = s.lastReportId
                WHERE s.lastReportId > s.contributedReportId ORDER BY s.wallet
                """).map { row in
                let uptime: Int = row["uptimeSeconds"], baseline: Int = row["uptimeBaseline"]
                let score: Double = row["score"]
                return PendingContribution(
                    agent: try Address(row["wallet"] as String),
                    taskCount: min(row["tasks"] as Int, RewardPool.maxTaskCount),
                    uptimeSeconds: min(uptime >= baseline ? uptime - baseline : uptime, RewardPool.maxUptimeSeconds),
                    responseScore: min(Int(score.rounded()), RewardPool.maxResponseScore),
                    reportID: row["lastReportId"], proofID: row["maxProof"], uptime: uptime)
            }
        }
    }

    /// Records that `contribution` reached the chain in `epochs` (the epoch its transaction
    /// landed in is one of them), so it is not counted again and those epochs get distributed.
    public func markContributed(_ contribution: PendingContribution, epochs: Set<Int>) async throws {
        try await database.write { db in
            try db.execute(sql: """
                UPDATE agentState SET contributedReportId = ?, contributedProofId = ?, uptimeBaseline = ? WHERE wallet = ?
                """, arguments: [contribution.reportID, contribution.proofID, contribution.uptime, Self.key(contribution.agent)])
            for epoch in epochs { try db.execute(sql: "INSERT OR IGNORE INTO pendingEpoch (epoch) VALUES (?)", arguments: [epoch]) }
        }
    }

    public func pendingEpochs() async throws -> [Int] {
        try await database.read { try Int.fetchAll($0, sql: "SELECT epoch FROM pendingEpoch ORDER BY epoch") }
    }

    public func markDistributed(epoch: Int) async throws {
        try await database.write { try $0.execute(sql: "DELETE FROM pendingEpoch WHERE epoch = ?", arguments: [epoch]) }
    }

    // MARK: Pipeline

    /// Registers (or re-registers) a node for a model and reassigns the model's layers over its
    /// active nodes; returns the node's assignment.
    public func registerPipelineNode(_ r: PipelineRegistration, agent: Address, totalLayers: Int, now: Int,
                                     activeSince: Int) async throws -> PipelineAssignment {
        try await database.write { db in
            let address = Self.key(agent)
            let last = try Int.fetchOne(db, sql: "SELECT lastRegisterTimestamp FROM pipelineNode WHERE address = ? AND model = ?",
                                        arguments: [address, r.model])
            if let last, r.timestamp <= last { throw OracleRejection.replayed(timestamp: r.timestamp, last: last) }
            try db.execute(sql: """
                INSERT INTO pipelineNode (address, model, grpcEndpoint, httpEndpoint, ramMb, vramMb, device, totalLayers, layerStart,
                  layerEnd, pipelineOrder, ready, createdAt, updatedAt, lastRegisterTimestamp, lastReadyTimestamp)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, ?, ?, ?, 0)
                ON CONFLICT(address, model) DO UPDATE SET grpcEndpoint = excluded.grpcEndpoint, httpEndpoint = excluded.httpEndpoint,
                  ramMb = excluded.ramMb, vramMb = excluded.vramMb, device = excluded.device, totalLayers = excluded.totalLayers,
                  ready = 0, updatedAt = excluded.updatedAt, lastRegisterTimestamp = excluded.lastRegisterTimestamp
                """, arguments: [address, r.model, r.grpcEndpoint, r.httpEndpoint, r.ramMb, r.vramMb, r.device, totalLayers,
                                 now, now, r.timestamp])
            let nodes = try Self.assignments(db, model: r.model, activeSince: activeSince)
            let ranges = Topology.split(totalLayers: totalLayers,
                                        weights: nodes.map { Topology.weight(device: $0.device, ramMb: $0.ramMb, vramMb: $0.vramMb) })
            for (order, (node, range)) in zip(nodes, ranges).enumerated() {
                try db.execute(sql: """
                    UPDATE pipelineNode SET layerStart = ?, layerEnd = ?, pipelineOrder = ?, totalLayers = ?
                    WHERE address = ? AND model = ?
                    """, arguments: [range.lowerBound, range.upperBound, order, totalLayers, node.nodeAddress, r.model])
            }
            guard let mine = try Self.assignments(db, model: r.model, activeSince: activeSince).first(where: { $0.nodeAddress == address })
            else { throw OracleRejection.unknownNode("registration of \(agent) was not stored") }
            return mine
        }
    }

    /// Marks a registered node ready.
    public func markReady(_ r: PipelineReady, agent: Address, now: Int) async throws {
        try await database.write { db in
            let address = Self.key(agent)
            guard let last = try Int.fetchOne(db, sql: "SELECT lastReadyTimestamp FROM pipelineNode WHERE address = ? AND model = ?",
                                              arguments: [address, r.model]) else {
                throw OracleRejection.unknownNode("\(agent) has not registered for \(r.model)")
            }
            guard r.timestamp > last else { throw OracleRejection.replayed(timestamp: r.timestamp, last: last) }
            try db.execute(sql: "UPDATE pipelineNode SET ready = 1, updatedAt = ?, lastReadyTimestamp = ? WHERE address = ? AND model = ?",
                           arguments: [now, r.timestamp, address, r.model])
        }
    }

    /// The model's active nodes in pipeline order.
    public func topology(model: String, activeSince: Int) async throws -> [PipelineAssignment] {
        try await database.read { try Self.assignments($0, model: model, activeSince: activeSince) }
    }

    /// Every active pipeline node of every model.
    public func pipelineNodes(activeSince: Int) async throws -> [PipelineAssignment] {
        try await database.read { try Self.assignments($0, model: nil, activeSince: activeSince) }
    }

    private static func assignments(_ db: Database, model: String?, activeSince: Int) throws -> [PipelineAssignment] {
        let filter = model == nil ? "" : "AND model = ?"
        var arguments: StatementArguments = [activeSince]
        if let model { arguments += [model] }
        return try Row.fetchAll(db, sql: """
            SELECT rowid, * FROM pipelineNode WHERE updatedAt >= ? AND grpcEndpoint != httpEndpoint \(filter)
            ORDER BY model, createdAt, rowid
            """, arguments: arguments).map { row in
            PipelineAssignment(nodeAddress: row["address"], modelName: row["model"], grpcEndpoint: row["grpcEndpoint"],
                               httpEndpoint: row["httpEndpoint"], ramMb: row["ramMb"], device: row["device"], vramMb: row["vramMb"],
                               totalLayers: row["totalLayers"], layerStart: row["layerStart"], layerEnd: row["layerEnd"],
                               ready: row["ready"], pipelineOrder: row["pipelineOrder"], createdAt: row["createdAt"],
                               updatedAt: row["updatedAt"])
        }
    }
}

/// A node's place in a model's pipeline (plumise-oracle's pipeline_assignments row).
public struct PipelineAssignment: Codable, Equatable, Sendable {
    public let nodeAddress: String
    public let modelName: String
    public let grpcEndpoint: String
    public let httpEndpoint: String
    public let ramMb: Int
    public let device: String
    public let vramMb: Int
    public let totalLayers: Int
    public let layerStart: Int
    public let layerEnd: Int
    public let ready: Bool
    public let pipelineOrder: Int
    public let createdAt: Int
    public let updatedAt: Int
}
