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

/// A proof as plumise-oracle lists it (GET /api/v1/proofs/:address, metrics.controller.ts):
/// {id, epoch, modelHash, inputHash, outputHash, tokenCount (a bigint column: a string),
/// verified, verificationTxHash, createdAt (ISO), verifiedAt}.
public struct StoredProof: Codable, Equatable, Sendable {
    public let id: Int
    public let epoch: Int
    public let modelHash: String
    public let inputHash: String
    public let outputHash: String
    public let tokenCount: String
    public let verified: Bool
    public let verificationTxHash: String?
    public let createdAt: String
    public let verifiedAt: String?

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(epoch, forKey: .epoch)
        try c.encode(modelHash, forKey: .modelHash)
        try c.encode(inputHash, forKey: .inputHash)
        try c.encode(outputHash, forKey: .outputHash)
        try c.encode(tokenCount, forKey: .tokenCount)
        try c.encode(verified, forKey: .verified)
        try c.encode(verificationTxHash, forKey: .verificationTxHash)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(verifiedAt, forKey: .verifiedAt)
    }
}

/// A node of GET /api/nodes (agent_nodes, nodes.service.ts).
public struct RegisteredNode: Equatable, Sendable {
    public let address: String
    public let endpoint: String
    public let capabilities: [String]
    public let status: String
    public let score: Double
    public let lastHeartbeat: Int
    public let benchmarkTokPerSec: Double
    public let createdAt: Int
    public let updatedAt: Int
}

/// ISO 8601 with milliseconds, as JSON.stringify writes a Date.
enum ISODate {
    static func string(_ unixSeconds: Int) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(unixSeconds)))
    }
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

    /// plumise-oracle's bound on a report's cumulative tokens (nodes.service.ts MAX_TOKENS_PER_REPORT).
    public static let maxTokensPerReport = 1_000_000_000

    /// Stores an accepted report and its proofs, as plumise-oracle's recordMetrics does, in one
    /// transaction: refused with ``OracleRejection/replayed(timestamp:last:)`` unless its
    /// timestamp is greater than the agent's last accepted one, then with
    /// ``OracleRejection/tooManyTokens(_:)`` above 1e9; tokens and requests accumulate as deltas
    /// of the cumulative counters (a value below the last one is a restarted counter: all of it
    /// is new); the agent's node entry is created if missing and its heartbeat refreshed.
    /// Returns the report's id and whether it is the agent's first.
    @discardableResult
    public func accept(_ report: OracleReport, agent: Address, score: Double, receivedAt: Int) async throws -> (id: Int, first: Bool) {
        try await database.write { db in
            let wallet = Self.key(agent)
            let state = try Row.fetchOne(db, sql: "SELECT * FROM agentState WHERE wallet = ?", arguments: [wallet])
            let last: Int? = state?["lastTimestamp"]
            if let last, report.timestamp <= last { throw OracleRejection.replayed(timestamp: report.timestamp, last: last) }
            guard report.tokensProcessed <= Self.maxTokensPerReport else { throw OracleRejection.tooManyTokens(report.tokensProcessed) }
            let lastTokens: Int = state?["lastRawTokens"] ?? 0, lastRequests: Int = state?["lastRawRequests"] ?? 0
            let tokenDelta = report.tokensProcessed < lastTokens ? report.tokensProcessed : report.tokensProcessed - lastTokens
            let requestDelta = report.requestCount < lastRequests ? report.requestCount : report.requestCount - lastRequests
            let proofs = report.proofs ?? []
            try db.execute(sql: """
                INSERT INTO report (wallet, tokensProcessed, avgLatencyMs, uptimeSeconds, requestCount, timestamp, receivedAt, score, proofCount)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [wallet, report.tokensProcessed, report.avgLatencyMs, report.uptimeSeconds, report.requestCount,
                                 report.timestamp, receivedAt, score, proofs.count])
            let id = Int(db.lastInsertedRowID)
            try db.execute(sql: """
                INSERT INTO agentState (wallet, lastTimestamp, lastReportId, lastRawTokens, lastRawRequests, tokensAccumulated,
                  requestsAccumulated) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(wallet) DO UPDATE SET lastTimestamp = excluded.lastTimestamp, lastReportId = excluded.lastReportId,
                  lastRawTokens = excluded.lastRawTokens, lastRawRequests = excluded.lastRawRequests,
                  tokensAccumulated = tokensAccumulated + excluded.tokensAccumulated,
                  requestsAccumulated = requestsAccumulated + excluded.requestsAccumulated
                """, arguments: [wallet, report.timestamp, id, report.tokensProcessed, report.requestCount, tokenDelta, requestDelta])
            for proof in proofs {
                // Stored as sent, lowercased, every one (proof.service.ts saveProof).
                try db.execute(sql: """
                    INSERT INTO proof (wallet, modelHash, inputHash, outputHash, tokenCount, reportId, createdAt)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [wallet, proof.modelHash.lowercased(), proof.inputHash.lowercased(), proof.outputHash.lowercased(),
                                     proof.tokenCount, id, receivedAt])
            }
            // ensureNodeRegistered + updateNodeMetricReport: a reporting agent is an active node.
            try db.execute(sql: """
                INSERT INTO node (address, endpoint, capabilities, status, score, lastHeartbeat, lastMetricReport, benchmarkTokPerSec,
                  createdAt, updatedAt) VALUES (?, '', '["inference"]', 'active', ?, ?, ?, 0, ?, ?)
                ON CONFLICT(address) DO UPDATE SET status = 'active', score = excluded.score, lastHeartbeat = excluded.lastHeartbeat,
                  lastMetricReport = excluded.lastMetricReport, updatedAt = excluded.updatedAt
                """, arguments: [wallet, score, receivedAt, receivedAt, receivedAt, receivedAt])
            // A report is also a liveness signal for the agent's pipeline entries.
            try db.execute(sql: "UPDATE pipelineNode SET updatedAt = ? WHERE address = ?", arguments: [receivedAt, wallet])
            return (id, state == nil)
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
            SELECT r.*, s.wallet AS address, s.tokensAccumulated, s.requestsAccumulated,
              (SELECT COUNT(*) FROM report WHERE wallet = s.wallet) AS reports,
              (SELECT COUNT(*) FROM proof WHERE wallet = s.wallet) AS proofs
            FROM agentState s JOIN report r ON r.id = s.lastReportId
            WHERE \(condition) ORDER BY s.wallet
            """, arguments: arguments).map { row in
            AgentMetrics(address: (try? Address(row["address"] as String).description) ?? row["address"],
                         tokensProcessed: row["tokensAccumulated"], avgLatencyMs: row["avgLatencyMs"],
                         requestCount: row["requestsAccumulated"],
                         uptimeSeconds: row["uptimeSeconds"], lastUpdated: row["timestamp"], score: row["score"],
                         reports: row["reports"], proofs: row["proofs"], lastReportAt: row["receivedAt"])
        }
    }

    /// The newest proofs of `agent` first; `epoch` is the dev chain's epoch when they arrived.
    public func proofs(of agent: Address, limit: Int = 100, epochOf: @Sendable (Int) -> Int = { _ in 0 }) async throws -> [StoredProof] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM proof WHERE wallet = ? ORDER BY id DESC LIMIT ?",
                             arguments: [Self.key(agent), limit]).map { row in
                let created: Int = row["createdAt"]
                return StoredProof(id: row["id"], epoch: epochOf(created), modelHash: row["modelHash"], inputHash: row["inputHash"],
                                   outputHash: row["outputHash"], tokenCount: String(row["tokenCount"] as Int), verified: false,
                                   verificationTxHash: nil, createdAt: ISODate.string(created), verifiedAt: nil)
            }
        }
    }

    // MARK: Nodes (agent_nodes)

    /// registerNode (nodes.service.ts): creates or updates the node, active from `now`.
    public func registerNode(_ r: NodeRegistration, agent: Address, now: Int) async throws {
        let capabilities = String(decoding: try JSONEncoder().encode(r.capabilities), as: UTF8.self)
        try await database.write { db in
            try db.execute(sql: """
                INSERT INTO node (address, endpoint, capabilities, status, score, lastHeartbeat, lastMetricReport, benchmarkTokPerSec,
                  createdAt, updatedAt) VALUES (?, ?, ?, 'active', 0, ?, ?, ?, ?, ?)
                ON CONFLICT(address) DO UPDATE SET endpoint = excluded.endpoint, capabilities = excluded.capabilities,
                  status = 'active', lastHeartbeat = excluded.lastHeartbeat, updatedAt = excluded.updatedAt,
                  benchmarkTokPerSec = CASE WHEN ? IS NULL THEN benchmarkTokPerSec ELSE excluded.benchmarkTokPerSec END
                """, arguments: [Self.key(agent), r.endpoint, capabilities, now, now, r.benchmarkTokPerSec ?? 0, now, now,
                                 r.benchmarkTokPerSec])
        }
    }

    /// Nodes whose status is active and whose last heartbeat is after `since` (getActiveNodes).
    public func activeNodes(since: Int) async throws -> [RegisteredNode] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM node WHERE status = 'active' AND lastHeartbeat > ? ORDER BY createdAt, address",
                             arguments: [since]).map { row in
                let capabilities = (try? JSONDecoder().decode([String].self, from: Data((row["capabilities"] as String).utf8))) ?? []
                return RegisteredNode(address: row["address"], endpoint: row["endpoint"], capabilities: capabilities,
                                      status: row["status"], score: row["score"], lastHeartbeat: row["lastHeartbeat"],
                                      benchmarkTokPerSec: row["benchmarkTokPerSec"], createdAt: row["createdAt"],
                                      updatedAt: row["updatedAt"])
            }
        }
    }

    // MARK: Replay guards (per address, as plumise-oracle keeps them)

    public enum GuardKind: String, Sendable { case nodeRegistration, pipelineRegistration, pipelineReady }

    /// Throws ``OracleRejection/replayed(timestamp:last:)`` unless `timestamp` is greater than
    /// the last one accepted for (kind, address).
    public func checkFresh(_ kind: GuardKind, _ agent: Address, timestamp: Int) async throws {
        let last = try await database.read { db in
            try Int.fetchOne(db, sql: "SELECT lastTimestamp FROM replayGuard WHERE kind = ? AND address = ?",
                             arguments: [kind.rawValue, Self.key(agent)])
        }
        if let last, timestamp <= last { throw OracleRejection.replayed(timestamp: timestamp, last: last) }
    }

    /// Records `timestamp` as the last accepted for (kind, address), after the request succeeded.
    public func recordAccepted(_ kind: GuardKind, _ agent: Address, timestamp: Int) async throws {
        try await database.write { db in
            try db.execute(sql: """
                INSERT INTO replayGuard (kind, address, lastTimestamp) VALUES (?, ?, ?)
                ON CONFLICT(kind, address) DO UPDATE SET lastTimestamp = excluded.lastTimestamp
                """, arguments: [kind.rawValue, Self.key(agent), timestamp])
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
            try db.execute(sql: """
                INSERT INTO pipelineNode (address, model, grpcEndpoint, httpEndpoint, ramMb, vramMb, device, totalLayers, layerStart,
                  layerEnd, pipelineOrder, ready, createdAt, updatedAt, lastRegisterTimestamp, lastReadyTimestamp, benchmarkTokPerSec)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, ?, ?, ?, 0, ?)
                ON CONFLICT(address, model) DO UPDATE SET grpcEndpoint = excluded.grpcEndpoint, httpEndpoint = excluded.httpEndpoint,
                  ramMb = excluded.ramMb, vramMb = excluded.vramMb, device = excluded.device, totalLayers = excluded.totalLayers,
                  ready = 0, updatedAt = excluded.updatedAt, lastRegisterTimestamp = excluded.lastRegisterTimestamp,
                  benchmarkTokPerSec = CASE WHEN ? IS NULL THEN benchmarkTokPerSec ELSE excluded.benchmarkTokPerSec END
                """, arguments: [address, r.model, r.grpcEndpoint, r.httpEndpoint, r.ramMb, r.vramMb, r.device, totalLayers,
                                 now, now, r.timestamp, r.benchmarkTokPerSec ?? 0, r.benchmarkTokPerSec])
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

    /// Marks a registered node ready ("Pipeline node not found" when it has not registered for
    /// the model).
    public func markReady(_ r: PipelineReady, agent: Address, now: Int) async throws {
        try await database.write { db in
            let address = Self.key(agent)
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM pipelineNode WHERE address = ? AND model = ?",
                                   arguments: [address, r.model]) == 1 else {
                throw OracleRejection.unknownNode("Pipeline node not found")
            }
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
            PipelineAssignment(id: row["rowid"], nodeAddress: row["address"], modelName: row["model"], grpcEndpoint: row["grpcEndpoint"],
                               httpEndpoint: row["httpEndpoint"], ramMb: row["ramMb"], device: row["device"], vramMb: row["vramMb"],
                               totalLayers: row["totalLayers"], layerStart: row["layerStart"], layerEnd: row["layerEnd"],
                               ready: row["ready"], pipelineOrder: row["pipelineOrder"],
                               benchmarkTokPerSec: row["benchmarkTokPerSec"], createdAt: row["createdAt"],
                               updatedAt: row["updatedAt"])
        }
    }
}

/// A node's place in a model's pipeline: plumise-oracle's pipeline_assignments row
/// (src/entities/pipeline-assignment.entity.ts), which its topology answers as TypeORM reads it
/// from MySQL: bigint columns (ramMb, vramMb) as strings, dates as ISO strings.
public struct PipelineAssignment: Encodable, Equatable, Sendable {
    public let id: Int
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
    public let benchmarkTokPerSec: Double
    public let createdAt: Int
    public let updatedAt: Int

    enum Keys: String, CodingKey {
        case id, nodeAddress, modelName, layerStart, layerEnd, totalLayers, grpcEndpoint, httpEndpoint, ramMb, device, vramMb,
             benchmarkTokPerSec, ready, pipelineOrder, nodeMode, clusterId, rpcPort, lanIp, createdAt, updatedAt
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(id, forKey: .id)
        try c.encode(nodeAddress, forKey: .nodeAddress)
        try c.encode(modelName, forKey: .modelName)
        try c.encode(layerStart, forKey: .layerStart)
        try c.encode(layerEnd, forKey: .layerEnd)
        try c.encode(totalLayers, forKey: .totalLayers)
        try c.encode(grpcEndpoint, forKey: .grpcEndpoint)
        try c.encode(httpEndpoint, forKey: .httpEndpoint)
        try c.encode(String(ramMb), forKey: .ramMb)
        try c.encode(device, forKey: .device)
        try c.encode(String(vramMb), forKey: .vramMb)
        try c.encode(benchmarkTokPerSec, forKey: .benchmarkTokPerSec)
        try c.encode(ready, forKey: .ready)
        try c.encode(pipelineOrder, forKey: .pipelineOrder)
        try c.encode("standalone", forKey: .nodeMode)
        try c.encodeNil(forKey: .clusterId)
        try c.encode(50052, forKey: .rpcPort)
        try c.encodeNil(forKey: .lanIp)
        try c.encode(ISODate.string(createdAt), forKey: .createdAt)
        try c.encode(ISODate.string(updatedAt), forKey: .updatedAt)
    }
}
