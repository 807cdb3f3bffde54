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
        /// Generations running at once (their steps are batched by the shards' schedulers).
        public var maxConcurrentGenerations = 64
        /// Generations that may wait for a place; beyond them requests get 503 with Retry-After.
        public var maxQueuedGenerations = 64
        /// Largest request body accepted, in bytes.
        public var maxBodyBytes = 1 << 20
        /// Seconds a connection may stay without a complete request head (slow headers) or
        /// idle between requests before it is closed.
        public var idleTimeoutSeconds: Double = 30
        /// HTTP connections open at once; further clients wait in the listen backlog (each
        /// connection holds a file descriptor, see ``FileBudget``).
        public var maxConnections = 256
        /// Seconds running generations may go on once shutdown begins (``ShutdownDrain``).
        public var shutdownGraceSeconds: Double = 5

        public init(maxNewTokensLimit: Int = 4096, defaultMaxNewTokens: Int = 128,
                    maxConcurrentGenerations: Int = 64, maxQueuedGenerations: Int = 64, maxBodyBytes: Int = 1 << 20,
                    idleTimeoutSeconds: Double = 30, maxConnections: Int = 256, shutdownGraceSeconds: Double = 5) {
            self.maxNewTokensLimit = maxNewTokensLimit
            self.defaultMaxNewTokens = defaultMaxNewTokens
            self.maxConcurrentGenerations = maxConcurrentGenerations
            self.maxQueuedGenerations = maxQueuedGenerations
            self.maxBodyBytes = maxBodyBytes
            self.idleTimeoutSeconds = idleTimeoutSeconds
            self.maxConnections = maxConnections
            self.shutdownGraceSeconds = shutdownGraceSeconds
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
    /// Admission of generations: running ones, a bounded wait queue, and their metrics.
    public let queue: GenerationQueue
    /// Graceful shutdown: started by the service that runs the API (``APIService``).
    public let drain = ShutdownDrain()

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
        self.queue = GenerationQueue(running: max(configuration.maxConcurrentGenerations, 1),
                                     waiting: max(configuration.maxQueuedGenerations, 0))
    }

    // MARK: Server

    /// The Hummingbird application serving the API on `host:port` (port 0 picks a free port).
    /// It is a swift-service-lifecycle `Service`; `onServerRunning` receives the bound port.
    public func makeApplication(host: String, port: Int,
                                onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        -> Application<RouterResponder<APIRequestContext>>
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
    public func makeRouter() -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self, options: .autoGenerateHeadEndpoints)
        let native: [String: [HTTPRequest.Method]] = ["health": [.get, .head], "metrics": [.get, .head],
                                                      "api/v1/generate": [.post]]
        router.add(middleware: RouteFallbacks(routes: native.merging(Self.openAIRoutes) { a, _ in a }) { status, message, path in
            self.errorResponse(APIError(status, message), style: path.hasPrefix("v1/") ? .openAI : .native)
        })
        router.get("health") { _, _ in self.health() }
        router.get("metrics") { _, _ in self.prometheus() }
        router.post("api/v1/generate") { request, context in await self.handle(request, context, style: .native, self.generate) }
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
                 body: .init(byteBuffer: ByteBuffer(string: PrometheusExporter.render(metrics.snapshot()) + queue.prometheusText())))
    }

    // MARK: Generation

    /// Reads the body, runs `endpoint` (its generations see whether the client is still
    /// connected), and turns thrown errors into error responses in `style`.
    func handle(_ request: Request, _ context: APIRequestContext, style: ErrorStyle,
                _ endpoint: (Data, _ isConnected: @escaping @Sendable () -> Bool) async throws -> Response) async -> Response {
        do {
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: configuration.maxBodyBytes)
            } catch {
                throw APIError(.contentTooLarge, "request body larger than \(configuration.maxBodyBytes) bytes")
            }
            guard service.isReady else { throw APIError(.serviceUnavailable, "model \(service.modelName) is loading") }
            let channel = context.channel
            return try await endpoint(Data(body.readableBytesView), { channel.isActive })
        } catch {
            return errorResponse(apiError(from: error), style: style)
        }
    }

    /// Runs one generation once admitted (503 with Retry-After when the wait queue is full),
    /// then records it; a generation its client abandoned is neither counted nor proven (only
    /// delivered work is).
    func runGeneration(_ request: GenerationRequest, isConnected: @escaping @Sendable () -> Bool,
                       onText: @escaping @Sendable (String) async -> Void = { _ in }) async throws -> GenerationOutput {
        guard !drain.isDraining else { throw ShuttingDown(tokens: nil) }
        let ticket = try await queue.admit()
        defer { ticket.release() }
        guard !drain.isDraining else { throw ShuttingDown(tokens: nil) }
        let start = ContinuousClock.now
        let queue = self.queue
        let drain = self.drain
        let firstText = OneWayFlag()
        let output: GenerationOutput
        do {
            output = try await service.generate(request, isConnected: { isConnected() && !drain.isExpired }) { piece in
                if firstText.claim() { queue.recordFirstToken(seconds: Self.seconds(ContinuousClock.now - ticket.requestedAt)) }
                await onText(piece)
            }
        } catch let error as GenerationCancelled where drain.isExpired && isConnected() {
            logger.notice("\(ShuttingDown(tokens: error.tokens))")
            throw ShuttingDown(tokens: error.tokens)
        } catch let error as GenerationCancelled {
            queue.recordCancelled()
            logger.info("\(error)")
            throw error
        }
        metrics.record(tokens: output.tokens, latencySeconds: Self.seconds(ContinuousClock.now - start))
        if let onInference { await onInference(output.promptText, output.text, output.tokens) }
        return output
    }

    /// The native API answers `{"error": message}` (what the Plumise gateway reads); the
    /// OpenAI-compatible one answers OpenAI's `{"error": {message, type, param, code}}`.
    enum ErrorStyle { case native, openAI }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    func errorResponse(_ error: APIError, style: ErrorStyle) -> Response {
        // 503 while loading or busy is expected, not a failure of the node.
        if error.status == .serviceUnavailable {
            logger.notice("request refused: \(error.message)")
        } else if error.status.code >= 500 {
            logger.error("request failed: \(error.message)")
        }
        var response: Response
        switch style {
        case .native: response = json(ErrorResponse(error: error.message), status: error.status)
        case .openAI: response = json(OpenAIErrorBody(error), status: error.status)
        }
        if let seconds = error.retryAfterSeconds { response.headers[.retryAfter] = String(seconds) }
        return response
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
        case GenerationServiceError.busy(_, _, let retryAfter):
            return APIError(.serviceUnavailable, "\(error)", code: "server_busy", retryAfterSeconds: retryAfter)
        case ModelError.cacheFull, SchedulerError.queueFull:
            return APIError(.serviceUnavailable, "the node is busy: \(error)", code: "server_busy",
                            retryAfterSeconds: queue.retryAfterSeconds)
        case let error as GenerationCancelled: return APIError(.serviceUnavailable, error.description)
        case let error as ShuttingDown: return APIError(.serviceUnavailable, error.description, code: "server_shutting_down")
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

/// An error answered with `status` and a message (plus OpenAI's `param` and `code` when known,
/// and a Retry-After for a busy node).
struct APIError: Error {
    var status: HTTPResponse.Status
    var message: String
    var param: String?
    var code: String?
    var retryAfterSeconds: Int?

    init(_ status: HTTPResponse.Status, _ message: String, param: String? = nil, code: String? = nil,
         retryAfterSeconds: Int? = nil) {
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.retryAfterSeconds = retryAfterSeconds
    }
}
