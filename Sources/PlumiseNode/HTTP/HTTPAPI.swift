import Foundation
import Hummingbird
import Logging
import NIOCore
import PetalsModel

/// The node's HTTP API (Hummingbird 2):
///
/// - `GET /health` → `{"status": "ok" | "loading", "model": …, "mode", "address", "uptime", "layers"}`
///   (503 while loading; the last four when the node's ``NodeIdentity`` is given)
/// - `POST /api/v1/generate` → `{generated_text, num_tokens, finish_reason}`, or server-sent
///   events with `"stream": true`
/// - `POST /v1/chat/completions`, `POST /v1/completions`, `GET /v1/models` (OpenAI-compatible)
/// - `GET /metrics` in the Prometheus text format
///
/// Every generation is recorded in the ``MetricsCollector`` and reported to `onInference`
/// (the node turns it into a proof). Bad JSON or out-of-range parameters get 400 with
/// `{"error": message}`; generation requests while the model loads get 503.
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

        public init(maxNewTokensLimit: Int = 4096, defaultMaxNewTokens: Int = 128,
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
        router.get("v1/models") { _, _ in self.models() }
        router.post("api/v1/generate") { request, _ in await self.handle(request, self.generate) }
        router.post("v1/chat/completions") { request, _ in await self.handle(request, self.chatCompletions) }
        router.post("v1/completions") { request, _ in await self.handle(request, self.completions) }
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

    func models() -> Response {
        json(ModelList(data: [.init(id: service.modelName, created: Self.startTime)]))
    }

    private static let startTime = Int(Date().timeIntervalSince1970)

    // MARK: Generation endpoints

    /// Reads the body, runs `endpoint`, and turns thrown ``APIError``s into error responses.
    private func handle(_ request: Request, _ endpoint: (Data) async throws -> Response) async -> Response {
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

    private func generate(_ body: Data) async throws -> Response {
        let request = try decode(GenerateRequest.self, body)
        let p = request.parameters
        let maxNewTokens = try checkedMaxTokens(p?.max_new_tokens, name: "max_new_tokens")
        var sampling = try samplingParameters(temperature: p?.temperature, topP: p?.top_p, topK: p?.top_k,
                                              repetitionPenalty: p?.repetition_penalty, seed: p?.seed,
                                              defaults: SamplingParameters())
        if p?.do_sample == false {
            sampling.temperature = 0
        } else if p?.do_sample == true && p?.temperature == nil {
            sampling.temperature = 1
        }
        let prompt = request.inputs
        let chosen = sampling

        guard request.stream == true else {
            let output = try await runGeneration(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling)
            return json(GenerateResponse(generated_text: output.text, num_tokens: output.tokens,
                                         finish_reason: output.finishReason))
        }
        return eventStream { send in
            let output = try await self.runGeneration(prompt: prompt, maxNewTokens: maxNewTokens, sampling: chosen) {
                await send(Self.encode(GenerateTokenEvent(token: $0)))
            }
            await send(Self.encode(GenerateFinalEvent(generated_text: output.text, num_tokens: output.tokens,
                                                      prompt_tokens: output.promptTokens,
                                                      finish_reason: output.finishReason)))
        }
    }

    private func chatCompletions(_ body: Data) async throws -> Response {
        let request = try decode(ChatCompletionRequest.self, body)
        guard !request.messages.isEmpty else { throw APIError(.badRequest, "messages must not be empty") }
        let maxNewTokens = try checkedMaxTokens(request.max_tokens, name: "max_tokens")
        let sampling = try openAISampling(temperature: request.temperature, topP: request.top_p, topK: request.top_k,
                                          repetitionPenalty: request.repetition_penalty, seed: request.seed)
        let prompt: String
        do {
            prompt = try service.chatPrompt(request.messages)
        } catch {
            throw APIError(.badRequest, "cannot render the chat: \(error)")
        }
        let id = "chatcmpl-" + Self.randomID()
        let created = Int(Date().timeIntervalSince1970)
        let model = service.modelName

        guard request.stream == true else {
            let output = try await runGeneration(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling)
            let choice = Choice(message: .init(role: "assistant", content: output.text),
                                finish_reason: output.finishReason)
            return json(CompletionObject(id: id, object: "chat.completion", created: created, model: model,
                                         choices: [choice], usage: Self.usage(output)))
        }
        return eventStream { send in
            @Sendable func chunk(_ choice: Choice, usage: Usage? = nil) -> String {
                Self.encode(CompletionObject(id: id, object: "chat.completion.chunk", created: created,
                                             model: model, choices: [choice], usage: usage))
            }
            await send(chunk(Choice(delta: .init(role: "assistant", content: ""))))
            let output = try await self.runGeneration(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling) {
                await send(chunk(Choice(delta: .init(content: $0))))
            }
            await send(chunk(Choice(delta: .init(), finish_reason: output.finishReason), usage: Self.usage(output)))
        }
    }

    private func completions(_ body: Data) async throws -> Response {
        let request = try decode(CompletionRequest.self, body)
        let maxNewTokens = try checkedMaxTokens(request.max_tokens, name: "max_tokens")
        let sampling = try openAISampling(temperature: request.temperature, topP: request.top_p, topK: request.top_k,
                                          repetitionPenalty: request.repetition_penalty, seed: request.seed)
        let prompt = request.prompt
        let id = "cmpl-" + Self.randomID()
        let created = Int(Date().timeIntervalSince1970)
        let model = service.modelName

        guard request.stream == true else {
            let output = try await runGeneration(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling)
            return json(CompletionObject(id: id, object: "text_completion", created: created, model: model,
                                         choices: [Choice(text: output.text, finish_reason: output.finishReason)],
                                         usage: Self.usage(output)))
        }
        return eventStream { send in
            @Sendable func chunk(_ choice: Choice, usage: Usage? = nil) -> String {
                Self.encode(CompletionObject(id: id, object: "text_completion", created: created,
                                             model: model, choices: [choice], usage: usage))
            }
            let output = try await self.runGeneration(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling) {
                await send(chunk(Choice(text: $0)))
            }
            await send(chunk(Choice(text: "", finish_reason: output.finishReason), usage: Self.usage(output)))
        }
    }

    // MARK: Generation, metrics and the proof hook

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

    // MARK: Parameters

    private func checkedMaxTokens(_ value: Int?, name: String) throws -> Int {
        let count = value ?? min(configuration.defaultMaxNewTokens, configuration.maxNewTokensLimit)
        guard count >= 1, count <= configuration.maxNewTokensLimit else {
            throw APIError(.badRequest, "\(name) must be in 1...\(configuration.maxNewTokensLimit), got \(count)")
        }
        return count
    }

    /// OpenAI defaults: temperature 1, top_p 1, no top-k.
    private func openAISampling(temperature: Double?, topP: Double?, topK: Int?, repetitionPenalty: Double?,
                                seed: UInt64?) throws -> SamplingParameters {
        try samplingParameters(temperature: temperature, topP: topP, topK: topK, repetitionPenalty: repetitionPenalty,
                               seed: seed, defaults: SamplingParameters(temperature: 1, topK: 0, topP: 1))
    }

    private func samplingParameters(temperature: Double?, topP: Double?, topK: Int?, repetitionPenalty: Double?,
                                    seed: UInt64?, defaults: SamplingParameters) throws -> SamplingParameters {
        var s = defaults
        if let temperature {
            guard temperature.isFinite, temperature >= 0 else {
                throw APIError(.badRequest, "temperature must be >= 0, got \(temperature)")
            }
            s.temperature = Float(temperature)
        }
        if let topP {
            guard topP > 0, topP <= 1 else { throw APIError(.badRequest, "top_p must be in (0, 1], got \(topP)") }
            s.topP = Float(topP)
        }
        if let topK {
            guard topK >= 0 else { throw APIError(.badRequest, "top_k must be >= 0, got \(topK)") }
            s.topK = topK
        }
        if let repetitionPenalty {
            guard repetitionPenalty.isFinite, repetitionPenalty > 0 else {
                throw APIError(.badRequest, "repetition_penalty must be > 0, got \(repetitionPenalty)")
            }
            s.repetitionPenalty = Float(repetitionPenalty)
        }
        if let seed { s.seed = seed }
        do {
            try s.validate()
        } catch {
            throw APIError(.badRequest, "\(error)")
        }
        return s
    }

    // MARK: Encoding

    private func decode<T: Decodable>(_ type: T.Type, _ body: Data) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: body)
        } catch let error as DecodingError {
            throw APIError(.badRequest, "invalid JSON body: \(Self.describe(error))")
        } catch {
            throw APIError(.badRequest, "invalid JSON body: \(error)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
            return keys.isEmpty ? "" : " at " + keys.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field '\(key.stringValue)'\(path(context))"
        case .typeMismatch(let type, let context):
            return "expected \(type)\(path(context))"
        case .valueNotFound(let type, let context):
            return "expected \(type)\(path(context)), found null"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : context.debugDescription + path(context)
        @unknown default:
            return "\(error)"
        }
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func encode<T: Encodable>(_ value: T) -> String {
        // Our response types always encode; the fallback keeps the stream well-formed anyway.
        guard let data = try? encoder.encode(value) else { return #"{"error":"encoding failed"}"# }
        return String(decoding: data, as: UTF8.self)
    }

    private func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(string: Self.encode(value))))
    }

    private func errorResponse(_ error: APIError) -> Response {
        // 503 while loading is expected, not a failure of the node.
        if error.status == .serviceUnavailable {
            logger.notice("request refused: \(error.message)")
        } else if error.status.code >= 500 {
            logger.error("request failed: \(error.message)")
        }
        return json(ErrorResponse(error: error.message), status: error.status)
    }

    private func apiError(from error: Error) -> APIError {
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

    /// A `text/event-stream` response: each string passed to `send` becomes one `data:` event,
    /// then `data: [DONE]` ends the stream. An error during generation becomes a final
    /// `data: {"error": …}` event before `[DONE]`.
    private func eventStream(_ produce: @escaping @Sendable (_ send: @escaping @Sendable (String) async -> Void) async throws -> Void)
        -> Response
    {
        let api = self
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                let (events, continuation) = AsyncStream<String>.makeStream()
                let producer = Task {
                    do {
                        try await produce { continuation.yield($0) }
                    } catch {
                        let failure = api.apiError(from: error)
                        api.logger.error("streamed generation failed: \(failure.message)")
                        continuation.yield(Self.encode(ErrorResponse(error: failure.message)))
                    }
                    continuation.yield("[DONE]")
                    continuation.finish()
                }
                do {
                    for await event in events {
                        try await writer.write(ByteBuffer(string: "data: \(event)\n\n"))
                    }
                } catch {
                    producer.cancel()
                    throw error
                }
                try await writer.finish(nil)
            })
    }

    private static func usage(_ output: GenerationOutput) -> Usage {
        Usage(prompt_tokens: output.promptTokens, completion_tokens: output.tokens,
              total_tokens: output.promptTokens + output.tokens)
    }

    private static func randomID() -> String {
        String(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24))
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

/// Lets at most `limit` holders in at once; the others wait in FIFO order.
final class ConcurrencyLimiter: @unchecked Sendable {
    private let lock = NSLock()
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { available = limit }

    func acquire() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            lock.lock()
            if available > 0 {
                available -= 1
                lock.unlock()
                waiter.resume()
            } else {
                waiters.append(waiter)
                lock.unlock()
            }
        }
    }

    func release() {
        lock.lock()
        if waiters.isEmpty {
            available += 1
            lock.unlock()
        } else {
            let next = waiters.removeFirst()
            lock.unlock()
            next.resume()
        }
    }
}
