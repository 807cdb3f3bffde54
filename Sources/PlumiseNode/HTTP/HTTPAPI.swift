import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import PetalsModel
import PetalsSwarm

/// The node's HTTP API (Hummingbird 2):
///
/// - `GET /health` → `{"status": "ok" | "loading", "model": …, "mode", "address", "uptime", "layers"}`
///   (503 while loading; the last four when the node's ``NodeIdentity`` is given)
/// - `POST /api/v1/generate` → `{generated_text, num_tokens, finish_reason}`, or server-sent
///   events with `"stream": true` (HTTPAPI+Generate.swift)
/// - `POST /v1/chat/completions`, `POST /v1/completions`, `GET /v1/models` (OpenAI-compatible,
///   Sources/PlumiseNode/OpenAI)
/// - `GET /metrics` in the Prometheus text format
///
/// Every generation is recorded in the ``MetricsCollector`` and reported to `onInference`
/// (the node turns it into a proof). Bad JSON or out-of-range parameters get 400 with
/// `{"error": message}` (OpenAI's error object under /v1), wrong methods 405, unknown paths a
/// JSON 404; generation requests while the model loads get 503. Errors found before a stream's
/// first token are HTTP errors, not 200 streams.
public struct HTTPAPI: Sendable {
    /// Limits and defaults of the API.
    public struct Configuration: Sendable {
        /// Largest `max_new_tokens` / `max_tokens` accepted (the Plumise gateway lets users ask
        /// for up to 4096: plumise-inference-api inference-request.dto.ts); the prompt and the
        /// new tokens must also fit the model's context.
        public var maxNewTokensLimit = 4096
        /// `max_new_tokens` / `max_tokens` when the request has none.
        public var defaultMaxNewTokens = 128
        /// Generations running at once; further requests wait their turn.
        public var maxConcurrentGenerations = 1
        /// Largest request body accepted, in bytes.
        public var maxBodyBytes = 1 << 20
        /// Seconds a connection may stay without a complete request head (slow headers) or
        /// idle between requests before it is closed.
        public var idleTimeoutSeconds: Double = 30
        /// HTTP connections open at once; further clients wait in the listen backlog (each
        /// connection holds a file descriptor, see ``FileBudget``).
        public var maxConnections = 256

        public init(maxNewTokensLimit: Int = 4096, defaultMaxNewTokens: Int = 128,
                    maxConcurrentGenerations: Int = 1, maxBodyBytes: Int = 1 << 20,
                    idleTimeoutSeconds: Double = 30, maxConnections: Int = 256) {
            self.maxNewTokensLimit = maxNewTokensLimit
            self.defaultMaxNewTokens = defaultMaxNewTokens
            self.maxConcurrentGenerations = maxConcurrentGenerations
            self.maxBodyBytes = maxBodyBytes
            self.idleTimeoutSeconds = idleTimeoutSeconds
            self.maxConnections = maxConnections
        }
    }

    /// Called after every successful generation with the prompt, the output text and the
    /// number of generated tokens.
    public typealias InferenceHook = @Sendable (_ prompt: String, _ output: String, _ tokens: Int) async -> Void

    public let service: any GenerationService
    public let metrics: MetricsCollector
    public let configuration: Configuration
    public let logger: Logger
    /// The node behind the API, shown by /health; nil for a bare API (tests, tools).
    public let identity: NodeIdentity?
    private let onInference: InferenceHook?
    private let limiter: ConcurrencyLimiter

    public init(service: any GenerationService, metrics: MetricsCollector,
                configuration: Configuration = Configuration(),
                logger: Logger = Logger(label: "plumise.http"),
                identity: NodeIdentity? = nil,
                onInference: InferenceHook? = nil) {
        self.identity = identity
        self.service = service
        self.metrics = metrics
        self.configuration = configuration
        self.logger = logger
        self.onInference = onInference
        self.limiter = ConcurrencyLimiter(limit: max(configuration.maxConcurrentGenerations, 1))
    }

    // MARK: Server

    /// The Hummingbird application serving the API on `host:port` (port 0 picks a free port).
    /// It is a swift-service-lifecycle `Service`; `onServerRunning` receives the bound port.
    public func makeApplication(host: String, port: Int,
                                onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        -> Application<RouterResponder<BasicRequestContext>>
    {
        Application(
            router: makeRouter(),
            server: .api(idleTimeout: .milliseconds(Int64(configuration.idleTimeoutSeconds * 1000))),
            configuration: .init(address: .hostname(host, port: port), serverName: "plumise-petals",
                                 availableConnectionsDelegate: MaximumAvailableConnections(configuration.maxConnections)),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// Serves until the surrounding task is cancelled (or the process gets SIGTERM/SIGINT when
    /// run under a service group).
    public func run(host: String, port: Int,
                    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await makeApplication(host: host, port: port, onServerRunning: onServerRunning).run()
    }

    /// The routes of the API (HEAD answers wherever GET does).
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self, options: .autoGenerateHeadEndpoints)
        let native: [String: [HTTPRequest.Method]] = ["health": [.get, .head], "metrics": [.get, .head],
                                                      "api/v1/generate": [.post]]
        router.add(middleware: RouteFallbacks(routes: native.merging(Self.openAIRoutes) { a, _ in a }) { status, message, path in
            self.errorResponse(APIError(status, message), style: path.hasPrefix("v1/") ? .openAI : .native)
        })
        router.get("health") { _, _ in self.health() }
        router.get("metrics") { _, _ in self.prometheus() }
        router.post("api/v1/generate") { request, _ in await self.handle(request, style: .native, self.generate) }
        addOpenAIRoutes(to: router)
        return router
    }

    // MARK: Simple endpoints

    func health() -> Response {
        let ready = service.isReady
        return json(HealthResponse(status: ready ? "ok" : "loading", model: service.modelName, identity: identity),
                    status: ready ? .ok : .serviceUnavailable)
    }

    func prometheus() -> Response {
        Response(status: .ok, headers: [.contentType: PrometheusExporter.contentType],
                 body: .init(byteBuffer: ByteBuffer(string: PrometheusExporter.render(metrics.snapshot()))))
    }

    // MARK: Generation

    /// Reads the body, runs `endpoint`, and turns thrown errors into error responses in `style`.
    func handle(_ request: Request, style: ErrorStyle, _ endpoint: (Data) async throws -> Response) async -> Response {
        do {
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: configuration.maxBodyBytes)
            } catch {
                throw APIError(.contentTooLarge, "request body larger than \(configuration.maxBodyBytes) bytes")
            }
            guard service.isReady else { throw APIError(.serviceUnavailable, "model \(service.modelName) is loading") }
            return try await endpoint(Data(body.readableBytesView))
        } catch {
            return errorResponse(apiError(from: error), style: style)
        }
    }

    /// Runs one generation within the concurrency limit, then records it.
    func runGeneration(_ request: GenerationRequest,
                       onText: @escaping @Sendable (String) async -> Void = { _ in }) async throws -> GenerationOutput {
        await limiter.acquire()
        defer { limiter.release() }
        let start = ContinuousClock.now
        let output = try await service.generate(request, onText: onText)
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        metrics.record(tokens: output.tokens, latencySeconds: seconds)
        if let onInference { await onInference(output.promptText, output.text, output.tokens) }
        return output
    }

    /// The native API answers `{"error": message}` (what the Plumise gateway reads); the
    /// OpenAI-compatible one answers OpenAI's `{"error": {message, type, param, code}}`.
    enum ErrorStyle { case native, openAI }

    func errorResponse(_ error: APIError, style: ErrorStyle) -> Response {
        // 503 while loading is expected, not a failure of the node.
        if error.status == .serviceUnavailable {
            logger.notice("request refused: \(error.message)")
        } else if error.status.code >= 500 {
            logger.error("request failed: \(error.message)")
        }
        switch style {
        case .native: return json(ErrorResponse(error: error.message), status: error.status)
        case .openAI: return json(OpenAIErrorBody(error), status: error.status)
        }
    }

    func errorEvent(_ error: APIError, style: ErrorStyle) -> String {
        switch style {
        case .native: return Self.encode(ErrorResponse(error: error.message))
        case .openAI: return Self.encode(OpenAIErrorBody(error))
        }
    }

    func apiError(from error: Error) -> APIError {
        switch error {
        case let error as APIError: return error
        case GenerationServiceError.notReady: return APIError(.serviceUnavailable, "\(error)")
        case GenerationServiceError.invalidRequest(let why): return APIError(.badRequest, why)
        case let error as SamplingError: return APIError(.badRequest, error.description)
        case let error as RouteError:
            switch error {
            case .sessionTooLong: return APIError(.badRequest, error.description, param: "max_tokens",
                                                  code: "context_length_exceeded")
            case .noRoute: return APIError(.serviceUnavailable, error.description)
            }
        case let error as RequestRefused: return APIError(.badRequest, error.description)
        case let error as ModelError:
            switch error {
            case .emptyPrompt, .contextFull, .chatTemplateUnsupported, .tokenOutOfRange:
                return APIError(.badRequest, error.description)
            default:
                return APIError(.internalServerError, error.description)
            }
        default: return APIError(.internalServerError, "generation failed: \(error)")
        }
    }
}

/// An error answered with `status` and a message (plus OpenAI's `param` and `code` when known).
struct APIError: Error {
    var status: HTTPResponse.Status
    var message: String
    var param: String?
    var code: String?

    init(_ status: HTTPResponse.Status, _ message: String, param: String? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.param = param
        self.code = code
    }
}
