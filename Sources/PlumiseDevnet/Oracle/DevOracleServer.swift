import Foundation
import Hummingbird
import PlumiseChain

/// The dev oracle's HTTP API, shaped like plumise-oracle's:
///
/// - `POST /api/v1/metrics/report` — a signed metrics report with proofs (201, or 400/401/403
///   with `{"success": false, "message": …}`)
/// - `GET /api/v1/metrics/agents/:address` — the agent's latest counters and score
/// - `GET /api/v1/proofs/:address?limit=N` — its stored proofs, newest first
/// - `GET /api/nodes` — active nodes (recent reports or pipeline registrations)
/// - `POST /api/v1/pipeline/register`, `POST /api/v1/pipeline/ready`,
///   `GET /api/v1/pipeline/topology?model=…` — layer assignment in proportion to memory
/// - `GET /health`
public struct DevOracleServer: Sendable {
    public let store: DevOracleStore
    public let verifier: ReportVerifier
    /// Nodes count as active while their last report or registration is this recent
    /// (plumise-oracle's heartbeat timeout).
    public var activeWindowSeconds = 600

    public init(store: DevOracleStore, verifier: ReportVerifier) {
        self.store = store
        self.verifier = verifier
    }

    private var now: Int { verifier.clock() }
    private var activeSince: Int { now - activeWindowSeconds }

    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/health") { _, _ in HTTPJSON.response(["status": "ok"]) }
        router.post("/api/v1/metrics/report") { request, _ in
            await self.answer { try await self.report(try Self.decode(OracleReport.self, try await HTTPJSON.body(request))) }
        }
        router.get("/api/v1/metrics/agents/:address") { _, context in
            await self.answer { try await self.metrics(try Self.address(context.parameters.get("address"))) }
        }
        router.get("/api/v1/proofs/:address") { request, context in
            await self.answer {
                let limit = try Self.limit(request.uri.queryParameters.get("limit"))
                return try await self.proofs(try Self.address(context.parameters.get("address")), limit: limit)
            }
        }
        router.get("/api/nodes") { _, _ in await self.answer { try await self.nodes() } }
        router.post("/api/v1/pipeline/register") { request, _ in
            await self.answer { try await self.register(try Self.decode(PipelineRegistration.self, try await HTTPJSON.body(request))) }
        }
        router.post("/api/v1/pipeline/ready") { request, _ in
            await self.answer { try await self.ready(try Self.decode(PipelineReady.self, try await HTTPJSON.body(request))) }
        }
        router.get("/api/v1/pipeline/topology") { request, _ in
            await self.answer {
                guard let model = request.uri.queryParameters.get("model"), !model.isEmpty else {
                    throw OracleRejection.malformed("the model parameter is required")
                }
                let nodes = try await self.store.topology(model: model, activeSince: self.activeSince)
                return HTTPJSON.response(TopologyResponse(model: model, nodes: nodes, count: nodes.count))
            }
        }
        return router
    }

    public func makeApplication(host: String = "127.0.0.1", port: Int,
                                onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        -> Application<RouterResponder<BasicRequestContext>>
    {
        HTTPJSON.application(router: makeRouter(), host: host, port: port, name: "plumise-devnet-oracle", onServerRunning: onServerRunning)
    }

    // MARK: Handlers

    private func report(_ report: OracleReport) async throws -> Response {
        let agent = try await verifier.verify(report)
        let score = Scoring.score(tokensProcessed: report.tokensProcessed, requestCount: report.requestCount,
                                  uptimeSeconds: report.uptimeSeconds, avgLatencyMs: report.avgLatencyMs)
        try await store.accept(report, agent: agent, score: score, receivedAt: now)
        return HTTPJSON.response(ReportAccepted(success: true, message: "Metrics recorded successfully", shouldReset: false,
                                                score: score), status: .created)
    }

    private func metrics(_ agent: Address) async throws -> Response {
        guard let metrics = try await store.metrics(of: agent) else {
            return HTTPJSON.response(NoMetrics(address: agent.description))
        }
        return HTTPJSON.response(metrics)
    }

    private func proofs(_ agent: Address, limit: Int) async throws -> Response {
        let proofs = try await store.proofs(of: agent, limit: limit)
        return HTTPJSON.response(ProofList(address: agent.description, count: proofs.count, proofs: proofs))
    }

    private func nodes() async throws -> Response {
        let since = activeSince
        let pipeline = try await store.pipelineNodes(activeSince: since)
        var nodes: [String: NodeSummary] = [:]
        for a in try await store.activeAgents(since: since) {
            nodes[a.address.lowercased()] = NodeSummary(address: a.address, endpoint: "", status: "active", score: a.score,
                                                        lastHeartbeat: a.lastReportAt, capabilities: ["text-generation"])
        }
        for p in pipeline {
            let existing = nodes[p.nodeAddress]
            let address = (try? Address(p.nodeAddress).description) ?? p.nodeAddress
            nodes[p.nodeAddress] = NodeSummary(address: address, endpoint: p.httpEndpoint, status: "active", score: existing?.score ?? 0,
                                               lastHeartbeat: max(existing?.lastHeartbeat ?? 0, p.updatedAt),
                                               capabilities: ["text-generation"])
        }
        let list = nodes.values.sorted { $0.address.lowercased() < $1.address.lowercased() }
        return HTTPJSON.response(NodeList(count: list.count, nodes: list))
    }

    private func register(_ r: PipelineRegistration) async throws -> Response {
        guard r.grpcEndpoint != r.httpEndpoint else {
            throw OracleRejection.malformed("pipeline nodes must have separate gRPC and HTTP endpoints")
        }
        guard r.ramMb >= 0, r.vramMb >= 0 else { throw OracleRejection.malformed("ramMb and vramMb must not be negative") }
        let totalLayers = r.totalLayers ?? Topology.knownLayers(model: r.model) ?? 32
        guard totalLayers > 0 else { throw OracleRejection.malformed("totalLayers must be positive") }
        // No on-chain check here: plumise-oracle sponsor-registers unknown agents at this point,
        // and a dev node registers itself on chain once it runs. Reports still require it.
        let agent = try verifier.verifySigned(address: r.address, timestamp: r.timestamp, signer: r.signer)
        let mine = try await store.registerPipelineNode(r, agent: agent, totalLayers: totalLayers, now: now, activeSince: activeSince)
        return HTTPJSON.response(Registered(success: true, message: "Pipeline node registered successfully",
                                            layerStart: mine.layerStart, layerEnd: mine.layerEnd, totalLayers: mine.totalLayers),
                                 status: .created)
    }

    private func ready(_ r: PipelineReady) async throws -> Response {
        let agent = try verifier.verifySigned(address: r.address, timestamp: r.timestamp, signer: r.signer)
        try await store.markReady(r, agent: agent, now: now)
        return HTTPJSON.response(Acknowledged(success: true, message: "Pipeline node marked as ready"), status: .created)
    }

    // MARK: Plumbing

    /// Runs a handler; rejections become their status with plumise-oracle's error body.
    private func answer(_ body: () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch let rejection as OracleRejection {
            let status = HTTPResponse.Status(code: rejection.status)
            return HTTPJSON.response(Failure(success: false, statusCode: rejection.status, message: rejection.description,
                                             error: status.reasonPhrase), status: status)
        } catch {
            return HTTPJSON.response(Failure(success: false, statusCode: 500, message: "\(error)", error: "Internal Server Error"),
                                     status: .internalServerError)
        }
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ body: Data) throws -> T {
        do { return try JSONDecoder().decode(type, from: body) } catch {
            throw OracleRejection.malformed("the body is not a valid \(T.self): \(error)")
        }
    }

    private static func address(_ text: String?) throws -> Address {
        do { return try Address(text ?? "") } catch { throw OracleRejection.malformed("\(error)") }
    }

    private static func limit(_ text: String?) throws -> Int {
        guard let text else { return 100 }
        guard let n = Int(text), (1...1000).contains(n) else { throw OracleRejection.malformed("limit must be 1...1000") }
        return n
    }

    struct ReportAccepted: Encodable { let success: Bool; let message: String; let shouldReset: Bool; let score: Double }
    /// plumise-oracle's answer for an agent without reports: {"address": …, "metrics": null}.
    struct NoMetrics: Encodable {
        let address: String
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(address, forKey: .address)
            try c.encodeNil(forKey: .metrics)
        }
        enum CodingKeys: String, CodingKey { case address, metrics }
    }
    struct ProofList: Encodable { let address: String; let count: Int; let proofs: [StoredProof] }
    struct NodeSummary: Codable {
        let address: String, endpoint: String, status: String, score: Double, lastHeartbeat: Int, capabilities: [String]
    }
    struct NodeList: Encodable { let count: Int; let nodes: [NodeSummary] }
    struct TopologyResponse: Encodable { let model: String; let nodes: [PipelineAssignment]; let count: Int }
    struct Registered: Encodable { let success: Bool; let message: String; let layerStart: Int; let layerEnd: Int; let totalLayers: Int }
    struct Acknowledged: Encodable { let success: Bool; let message: String }
    struct Failure: Encodable { let success: Bool; let statusCode: Int; let message: String; let error: String }
}
