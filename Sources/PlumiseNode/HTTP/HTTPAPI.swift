import Foundation
import Hummingbird
import Logging
import NIOCore
import PetalsModel

/// The node's HTTP API (Hummingbird 2):
///
/// - `GET /health` → `{"status": "ok" | "loading", "model": …}` (503 while loading)
/// - `POST /api/v1/generate` → `{generated_text, num_tokens, finish_reason}`, or server-sent
///   events with `"stream": true` (HTTPAPI+Generate.swift)
/// - `POST /v1/chat/completions`, `POST /v1/completions`, `GET /v1/models` (OpenAI-compatible,
///   Sources/PlumiseNode/OpenAI)
/// - `GET /metrics` in the Prometheus text format
///
/// Every generation is recorded in the ``MetricsCollector`` and reported to `onInference`
/// (the node turns it into a proof). Bad JSON or out-of-range parameters get 400 with
/// `{"error": message}`; generation requests while the model loads get 503.
public struct HTTPAPI: Sendable {
    /// Limits and defaults of the API.
    public struct Configuration: Sendable {
        /// Largest `max_new_tokens` / `max_tokens` accepted.
        public var maxNewTokensLimit = 1024
        /// `max_new_tokens` / `max_tokens` when the request has none.
        public var defaultMaxNewTokens = 128
        /// Generations running at once; further requests wait their turn.
        public var maxConcurrentGenerations = 1
        /// Largest request body accepted, in bytes.
        public var maxBodyBytes = 1 << 20

        public init(maxNewTokensLimit: Int = 1024, defaultMaxNewTokens: Int = 128,
                    maxConcurrentGenerations: Int = 1, maxBodyBytes: Int = 1 << 20) {
            self.maxNewTokensLimit = maxNewTokensLimit
            self.defaultMaxNewTokens = defaultMaxNewTokens
            self.maxConcurrentGenerations = maxConcurrentGenerations
            self.maxBodyBytes = maxBodyBytes
        }
    }

    /// Called after every successful generation with the prompt, the output text and the
    /// number of generated tokens.
    public typealias InferenceHook = @Sendable (_ prompt: String, _ output: String, _ tokens: Int) async -> Void

    public let service: any GenerationService
    public let metrics: MetricsCollector
    public let configuration: Configuration
    public let logger: Logger
    private let onInference: InferenceHook?
    private let limiter: ConcurrencyLimiter

    public init(service: any GenerationService, metrics: MetricsCollector,
                configuration: Configuration = Configuration(),
                logger: Logger = Logger(label: "plumise.http"),
                onInference: InferenceHook? = nil) {
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
            configuration: .init(address: .hostname(host, port: port), serverName: "plumise-petals"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// Serves until the surrounding task is cancelled (or the process gets SIGTERM/SIGINT when
    /// run under a service group).
    public func run(host: String, port: Int,
                    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await makeApplication(host: host, port: port, onServerRunning: onServerRunning).run()
    }

    /// The routes of the API.
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("health") { _, _ in self.health() }
        router.get("metrics") { _, _ in self.prometheus() }
        router.post("api/v1/generate") { request, _ in await self.handle(request, self.generate) }
        addOpenAIRoutes(to: router)
        return router
    }

    // MARK: Simple endpoints

    func health() -> Response {
        let ready = service.isReady
        return json(HealthResponse(status: ready ? "ok" : "loading", model: service.modelName),
                    status: ready ? .ok : .serviceUnavailable)
    }

    func prometheus() -> Response {
        Response(status: .ok, headers: [.contentType: PrometheusExporter.contentType],
                 body: .init(byteBuffer: ByteBuffer(string: PrometheusExporter.render(metrics.snapshot()))))
    }

    // MARK: Generation

    /// Reads the body, runs `endpoint`, and turns thrown ``APIError``s into error responses.
    func handle(_ request: Request, _ endpoint: (Data) async throws -> Response) async -> Response {
        do {
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: configuration.maxBodyBytes)
            } catch {
                throw APIError(.contentTooLarge, "request body larger than \(configuration.maxBodyBytes) bytes")
            }
            guard service.isReady else { throw APIError(.serviceUnavailable, "model \(service.modelName) is loading") }
            return try await endpoint(Data(body.readableBytesView))
        } catch let error as APIError {
            return errorResponse(error)
        } catch {
            return errorResponse(apiError(from: error))
        }
    }

    /// Runs one generation within the concurrency limit, then records it.
    func runGeneration(prompt: String, maxNewTokens: Int, sampling: SamplingParameters,
                       onText: @escaping @Sendable (String) async -> Void = { _ in }) async throws -> GenerationOutput {
        await limiter.acquire()
        defer { limiter.release() }
        let start = ContinuousClock.now
        let output = try await service.generate(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling,
                                                onText: onText)
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        metrics.record(tokens: output.tokens, latencySeconds: seconds)
        if let onInference { await onInference(prompt, output.text, output.tokens) }
        return output
    }

    func errorResponse(_ error: APIError) -> Response {
        // 503 while loading is expected, not a failure of the node.
        if error.status == .serviceUnavailable {
            logger.notice("request refused: \(error.message)")
        } else if error.status.code >= 500 {
            logger.error("request failed: \(error.message)")
        }
        return json(ErrorResponse(error: error.message), status: error.status)
    }

    func apiError(from error: Error) -> APIError {
        switch error {
        case let error as APIError: return error
        case GenerationServiceError.notReady: return APIError(.serviceUnavailable, "\(error)")
        case GenerationServiceError.invalidRequest(let why): return APIError(.badRequest, why)
        case let error as SamplingError: return APIError(.badRequest, error.description)
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

/// An error answered with `status` and `{"error": message}`.
struct APIError: Error {
    var status: HTTPResponse.Status
    var message: String
    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }
}
