import Foundation
import Hummingbird
import Logging
import PlumiseChain

/// The dev oracle's HTTP API: plumise-oracle's routes, rules and answers (mikusnuz/plumise-oracle;
/// each handler names the code it follows). Every POST body passes the DTO rules of
/// ``OracleDTOs`` first (the real oracle's ValidationPipe), and errors come back in NestJS's form
/// (``NestError``), with the real oracle's status codes and words.
///
/// - `POST /api/v1/metrics/report`, `GET /api/v1/metrics/agents/:address`,
///   `GET /api/v1/metrics/capacity`, `GET /api/v1/proofs/:address?limit=N`
/// - `POST /api/nodes/register`, `GET /api/nodes`
/// - `POST /api/v1/pipeline/register`, `POST /api/v1/pipeline/ready`, `GET /api/v1/pipeline/topology?model=…`
/// - `GET /health`
public struct DevOracleServer: Sendable {
    public let store: DevOracleStore
    public let verifier: ReportVerifier
    /// Sponsors agents on chain; nil leaves unregistered agents refused.
    public let chain: OracleChain?
    /// plumise-oracle's HEARTBEAT_TIMEOUT_MS: nodes and pipeline entries count as active while
    /// their last heartbeat (report or registration) is this recent.
    public var activeWindowSeconds = 600
    /// The dev chain's epoch at a time (for the epoch fields of the answers).
    public var epochAt: @Sendable (Int) -> Int = { _ in 0 }
    let logger: Logger

    public init(store: DevOracleStore, verifier: ReportVerifier, chain: OracleChain? = nil,
                logger: Logger = Logger(label: "plumise.devnet.oracle")) {
        self.store = store
        self.verifier = verifier
        self.chain = chain
        self.logger = logger
    }

    private var now: Int { verifier.clock() }
    private var activeSince: Int { now - activeWindowSeconds }

    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/health") { _, _ in HTTPJSON.response(["status": "ok"]) }
        router.post("/api/v1/metrics/report") { request, _ in
            await self.answer { try await self.report(try await self.body(request, OracleDTOs.reportMetrics, as: OracleReport.self)) }
        }
        router.get("/api/v1/metrics/agents/:address") { _, context in
            await self.answer { try await self.metrics(try Self.address(context.parameters.get("address"))) }
        }
        router.get("/api/v1/metrics/capacity") { _, _ in await self.answer { try await self.capacity() } }
        router.get("/api/v1/proofs/:address") { request, context in
            await self.answer {
                let limit = try Self.limit(request.uri.queryParameters.get("limit"))
                return try await self.proofs(try Self.address(context.parameters.get("address")), limit: limit)
            }
        }
        router.post("/api/nodes/register") { request, _ in
            await self.answer { try await self.registerNode(try await self.body(request, OracleDTOs.registerNode, as: NodeRegistration.self)) }
        }
        router.get("/api/nodes") { _, _ in await self.answer { try await self.nodes() } }
        router.post("/api/v1/pipeline/register") { request, _ in
            await self.answer {
                try await self.registerPipeline(try await self.body(request, OracleDTOs.registerPipelineNode, as: PipelineRegistration.self))
            }
        }
        router.post("/api/v1/pipeline/ready") { request, _ in
            await self.answer { try await self.ready(try await self.body(request, OracleDTOs.pipelineReady, as: PipelineReady.self)) }
        }
        router.get("/api/v1/pipeline/topology") { request, _ in
            await self.answer {
                guard let model = request.uri.queryParameters.get("model"), !model.isEmpty else {
                    throw NestError.httpException("Model parameter is required")
                }
                return try await self.topology(model: model)
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

    // MARK: Metrics (metrics.controller.ts reportMetrics, metrics.service.ts)

    private func report(_ report: OracleReport) async throws -> Response {
        // verifySignature: a timestamp outside 60 s or a wrong signature is 401 "Invalid signature".
        let agent: Address
        do {
            agent = try verifier.verifySigned(address: report.wallet, timestamp: report.timestamp, signer: report.signer)
        } catch let rejection as OracleRejection {
            throw refused(rejection, as: NestError.unauthorized)
        }
        // recordMetrics: unregistered (or the chain cannot say) → 400; then replay, then the bound.
        do {
            try await verifier.requireRegistered(agent)
            let score = Scoring.score(tokensProcessed: report.tokensProcessed, requestCount: report.requestCount,
                                      uptimeSeconds: report.uptimeSeconds, avgLatencyMs: report.avgLatencyMs)
            let stored = try await store.accept(report, agent: agent, score: score, receivedAt: now)
            return HTTPJSON.response(ReportAccepted(success: true, message: "Metrics recorded successfully", shouldReset: stored.first),
                                     status: .created)
        } catch let rejection as OracleRejection {
            throw refused(rejection, as: NestError.badRequest)
        }
    }

    private func metrics(_ agent: Address) async throws -> Response {
        guard let metrics = try await store.metrics(of: agent) else {
            return HTTPJSON.response(NoMetrics(address: agent.description))
        }
        return HTTPJSON.response(metrics)
    }

    /// metrics.service.ts getAgentCapacities: agents with metrics, then benchmarked nodes without.
    private func capacity() async throws -> Response {
        let nodes = try await store.activeNodes(since: activeSince)
        let benchmarks = Dictionary(nodes.map { ($0.address.lowercased(), $0.benchmarkTokPerSec) }, uniquingKeysWith: { a, _ in a })
        let pipeline = try await store.pipelineNodes(activeSince: activeSince)
        let hardware = Dictionary(pipeline.map { ($0.nodeAddress, $0) }, uniquingKeysWith: { a, _ in a })
        let epoch = epochAt(now)
        var rows: [Capacity] = []
        var seen = Set<String>()
        for m in try await store.activeAgents(since: 0) {
            let key = m.address.lowercased()
            seen.insert(key)
            let h = hardware[key]
            rows.append(Capacity(address: m.address, epoch: epoch, tokensProcessed: String(m.tokensProcessed), requestCount: m.requestCount,
                                 uptimeSeconds: m.uptimeSeconds, avgLatencyMs: m.avgLatencyMs,
                                 throughputTokPerSec: m.uptimeSeconds > 0
                                    ? String(format: "%.2f", Double(m.tokensProcessed) / Double(m.uptimeSeconds)) : "0.00",
                                 benchmarkTokPerSec: benchmarks[key].flatMap { $0 > 0 ? $0 : nil } ?? h?.benchmarkTokPerSec ?? 0,
                                 device: h?.device ?? "unknown", ramMb: h?.ramMb ?? 0, vramMb: h?.vramMb ?? 0))
        }
        for node in nodes where !seen.contains(node.address.lowercased()) && node.benchmarkTokPerSec > 0 {
            let h = hardware[node.address.lowercased()]
            rows.append(Capacity(address: node.address, epoch: epoch, tokensProcessed: "0", requestCount: 0, uptimeSeconds: 0,
                                 avgLatencyMs: 0, throughputTokPerSec: "0.00", benchmarkTokPerSec: node.benchmarkTokPerSec,
                                 device: h?.device ?? "unknown", ramMb: h?.ramMb ?? 0, vramMb: h?.vramMb ?? 0))
        }
        return HTTPJSON.response(rows)
    }

    private func proofs(_ agent: Address, limit: Int) async throws -> Response {
        let proofs = try await store.proofs(of: agent, limit: limit, epochOf: epochAt)
        return HTTPJSON.response(ProofList(address: agent.description, count: proofs.count, proofs: proofs))
    }

    // MARK: Nodes (metrics.controller.ts registerNode / getActiveNodes, nodes.service.ts)

    private func registerNode(_ r: NodeRegistration) async throws -> Response {
        let agent: Address
        do {
            agent = try verifier.verifySigned(address: r.address, timestamp: r.timestamp, signer: r.signer)
        } catch let rejection as OracleRejection {
            throw refused(rejection, as: NestError.unauthorized)
        }
        do {
            try await store.checkFresh(.nodeRegistration, agent, timestamp: r.timestamp)
        } catch let rejection as OracleRejection {
            throw refused(rejection, as: NestError.badRequest)
        }
        if !(await isAgent(agent)) {
            // sponsorAgentRegistration: "agent-<last 8 hex>", no model hash, the agent as beneficiary.
            let name = "agent-" + String(agent.lowercased.suffix(8))
            guard (try? await chain?.sponsorRegistration(of: agent, name: name, modelHash: [UInt8](repeating: 0, count: 32))) == true else {
                throw NestError.badRequest("Failed to sponsor on-chain registration")
            }
            guard await isAgent(agent) else {
                throw NestError.badRequest("Sponsored registration tx succeeded but agent still not found on-chain")
            }
        }
        try await store.registerNode(r, agent: agent, now: now)
        try await store.recordAccepted(.nodeRegistration, agent, timestamp: r.timestamp)
        return HTTPJSON.response(Acknowledged(success: true, message: "Node registered successfully"), status: .created)
    }

    private func nodes() async throws -> Response {
        let list = try await store.activeNodes(since: activeSince).map {
            NodeSummary(address: $0.address, endpoint: $0.endpoint, status: $0.status, score: $0.score,
                        lastHeartbeat: String($0.lastHeartbeat), capabilities: $0.capabilities)
        }
        return HTTPJSON.response(NodeList(count: list.count, nodes: list))
    }

    private func isAgent(_ agent: Address) async -> Bool { (try? await verifier.isRegistered(agent)) ?? false }

    // MARK: Pipeline (pipeline.controller.ts: errors are HttpException(message, 400))

    private func registerPipeline(_ r: PipelineRegistration) async throws -> Response {
        guard r.grpcEndpoint != r.httpEndpoint else {
            throw NestError.httpException("Pipeline nodes must have separate gRPC and HTTP endpoints")
        }
        let agent: Address
        do {
            let claimed = try Address(r.address)
            try await store.checkFresh(.pipelineRegistration, claimed, timestamp: r.timestamp)
            agent = try verifier.verifySigned(address: r.address, timestamp: r.timestamp, signer: r.signer)
        } catch let rejection as OracleRejection {
            throw refused(rejection, as: { NestError.httpException($0) })
        }
        if !(await isAgent(agent)) {
            // sponsorRegisterAgent: "plumise-agent", keccak256(model), the agent as beneficiary.
            do {
                guard try await chain?.sponsorRegistration(of: agent, name: "plumise-agent", modelHash: Keccak.hash256(r.model)) == true else {
                    throw NestError.httpException("Sponsor registration failed: the transaction reverted")
                }
            } catch let error as NestError {
                throw error
            } catch {
                throw NestError.httpException("Sponsor registration failed: \(error)")
            }
            guard await isAgent(agent) else {
                throw NestError.httpException("Sponsor registration tx succeeded but agent still not found on-chain")
            }
        }
        let totalLayers = Topology.totalLayers(model: r.model)
        let mine = try await store.registerPipelineNode(r, agent: agent, totalLayers: totalLayers, now: now, activeSince: activeSince)
        try await store.recordAccepted(.pipelineRegistration, agent, timestamp: r.timestamp)
        return HTTPJSON.response(Registered(success: true, message: "Pipeline node registered successfully",
                                            layerStart: mine.layerStart, layerEnd: mine.layerEnd, totalLayers: mine.totalLayers),
                                 status: .created)
    }

    private func ready(_ r: PipelineReady) async throws -> Response {
        do {
            let claimed = try Address(r.address)
            try await store.checkFresh(.pipelineReady, claimed, timestamp: r.timestamp)
            let agent = try verifier.verifySigned(address: r.address, timestamp: r.timestamp, signer: r.signer)
            try await store.markReady(r, agent: agent, now: now)
            try await store.recordAccepted(.pipelineReady, agent, timestamp: r.timestamp)
        } catch let rejection as OracleRejection {
            throw refused(rejection, as: { NestError.httpException($0) })
        }
        return HTTPJSON.response(Acknowledged(success: true, message: "Pipeline node marked as ready"), status: .created)
    }

    /// getTopology: the model's active pipeline entries, then standalone nodes whose
    /// capabilities name the model, serving every layer (grpcEndpoint "standalone://…").
    private func topology(model: String) async throws -> Response {
        let pipeline = try await store.topology(model: model, activeSince: activeSince)
        let members = Set(pipeline.map(\.nodeAddress))
        let total = Topology.totalLayers(model: model)
        let standalone = try await store.activeNodes(since: activeSince).filter {
            !members.contains($0.address.lowercased()) && $0.capabilities.contains(model)
        }.map {
            StandaloneNode(nodeAddress: $0.address, modelName: model, layerStart: 0, layerEnd: total, totalLayers: total,
                           grpcEndpoint: "standalone://\($0.address)", httpEndpoint: $0.endpoint, ramMb: 0, device: "auto", vramMb: 0,
                           ready: true, pipelineOrder: 999, createdAt: ISODate.string($0.createdAt), updatedAt: ISODate.string($0.updatedAt))
        }
        var nodes: [TopologyEntry] = pipeline.map(TopologyEntry.pipeline)
        nodes += standalone.map(TopologyEntry.standalone)
        return HTTPJSON.response(TopologyResponse(model: model, nodes: nodes, count: nodes.count))
    }

    // MARK: Plumbing

    /// Reads the body as NestJS does: JSON (else 400), the DTO's rules (else 400 with the
    /// messages), then the typed value.
    private func body<T: Decodable>(_ request: Request, _ schema: DTOSchema, as type: T.Type) async throws -> T {
        let data = try await HTTPJSON.body(request)
        let json: JSONValue
        do { json = try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            throw NestError.badRequest("Unexpected token in JSON: the body is not valid JSON")
        }
        let messages = schema.validate(json)
        guard messages.isEmpty else { throw NestError.validation(messages) }
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw NestError.badRequest("\(error)")
        }
    }

    /// A rejection in the real oracle's words, its detail logged.
    private func refused(_ rejection: OracleRejection, as make: (String) -> NestError) -> NestError {
        logger.info("refused: \(rejection)")
        return make(rejection.oracleMessage)
    }

    private func answer(_ body: () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch let error as NestError {
            return HTTPJSON.response(error.body, status: HTTPResponse.Status(code: error.status))
        } catch let rejection as OracleRejection {
            return HTTPJSON.response(refused(rejection, as: NestError.badRequest).body, status: .badRequest)
        } catch {
            logger.error("internal error: \(error)")
            return HTTPJSON.response(NestError.httpException("Internal server error", status: 500).body, status: .internalServerError)
        }
    }

    private static func address(_ text: String?) throws -> Address {
        do { return try Address(text ?? "") } catch { throw NestError.badRequest("Invalid address") }
    }

    private static func limit(_ text: String?) throws -> Int {
        guard let text else { return 100 }
        guard let n = Int(text), (1...1000).contains(n) else { throw NestError.badRequest("Invalid limit (1-1000)") }
        return n
    }

    struct ReportAccepted: Encodable { let success: Bool; let message: String; let shouldReset: Bool }
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
        let address: String, endpoint: String, status: String, score: Double, lastHeartbeat: String, capabilities: [String]
    }
    struct NodeList: Encodable { let count: Int; let nodes: [NodeSummary] }
    struct Capacity: Encodable {
        let address: String, epoch: Int, tokensProcessed: String, requestCount: Int, uptimeSeconds: Int, avgLatencyMs: Double
        let throughputTokPerSec: String, benchmarkTokPerSec: Double, device: String, ramMb: Int, vramMb: Int
    }
    struct StandaloneNode: Encodable {
        let nodeAddress: String, modelName: String, layerStart: Int, layerEnd: Int, totalLayers: Int, grpcEndpoint: String
        let httpEndpoint: String, ramMb: Int, device: String, vramMb: Int, ready: Bool, pipelineOrder: Int
        let createdAt: String, updatedAt: String
    }
    enum TopologyEntry: Encodable {
        case pipeline(PipelineAssignment), standalone(StandaloneNode)
        func encode(to encoder: Encoder) throws {
            switch self {
            case .pipeline(let a): try a.encode(to: encoder)
            case .standalone(let s): try s.encode(to: encoder)
            }
        }
    }
    struct TopologyResponse: Encodable { let model: String; let nodes: [TopologyEntry]; let count: Int }
    struct Registered: Encodable { let success: Bool; let message: String; let layerStart: Int; let layerEnd: Int; let totalLayers: Int }
    struct Acknowledged: Encodable { let success: Bool; let message: String }
}
