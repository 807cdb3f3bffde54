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
        /// Generations running at once (their steps are batched by the shards' schedulers).
        public var maxConcurrentGenerations = 64
        /// Generations that may wait for a place; beyond them requests get 503 with Retry-After.
        public var maxQueuedGenerations = 64
        /// Largest request body accepted, in bytes.
        public var maxBodyBytes = 1 << 20

        public init(maxNewTokensLimit: Int = 4096, defaultMaxNewTokens: Int = 128,
                    maxConcurrentGenerations: Int = 64, maxQueuedGenerations: Int = 64, maxBodyBytes: Int = 1 << 20) {
            self.maxNewTokensLimit = maxNewTokensLimit
            self.defaultMaxNewTokens = defaultMaxNewTokens
            self.maxConcurrentGenerations = maxConcurrentGenerations
            self.maxQueuedGenerations = maxQueuedGenerations
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
    /// Admission of generations, and the batching figures of /metrics.
    public let queue: GenerationQueue

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
        self.queue = GenerationQueue(running: configuration.maxConcurrentGenerations,
                                     waiting: configuration.maxQueuedGenerations)
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
            server: .http1(configuration: .init(additionalChannelHandlers: [HangUpDetector()])),
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
    public func makeRouter() -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        router.get("health") { _, _ in self.health() }
        router.get("metrics") { _, _ in self.prometheus() }
        router.get("v1/models") { _, _ in self.models() }
        router.post("api/v1/generate") { request, context in await self.handle(request, context, self.generate) }
        router.post("v1/chat/completions") { request, context in
            await self.handle(request, context, openAI: true, self.chatCompletions)
        }
        router.post("v1/completions") { request, context in await self.handle(request, context, openAI: true, self.completions) }
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

    func models() -> Response {
        json(ModelList(data: [.init(id: service.modelName, created: Self.startTime)]))
    }

    private static let startTime = Int(Date().timeIntervalSince1970)

    // MARK: Generation endpoints

    /// Reads the body, runs `endpoint` (its generations see whether the client is still connected),
    /// and turns thrown ``APIError``s into error responses (OpenAI's error object on /v1 routes).
    private func handle(_ request: Request, _ context: APIRequestContext, openAI: Bool = false,
                        _ endpoint: (Data, @escaping @Sendable () -> Bool) async throws -> Response) async -> Response {
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
            return errorResponse(apiError(from: error), openAI: openAI)
        }
    }

    private func generate(_ body: Data, _ isConnected: @escaping @Sendable () -> Bool) async throws -> Response {
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
        let ticket = try await admit()

        guard request.stream == true else {
            let output = try await runGeneration(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling, ticket: ticket,
                                                 isConnected: isConnected)
            return json(GenerateResponse(generated_text: output.text, num_tokens: output.tokens,
                                         finish_reason: output.finishReason))
        }
        return eventStream { send in
            let output = try await self.runGeneration(prompt: prompt, maxNewTokens: maxNewTokens, sampling: chosen, ticket: ticket,
                                                      isConnected: isConnected) {
                await send(Self.encode(GenerateTokenEvent(token: $0)))
            }
            await send(Self.encode(GenerateFinalEvent(generated_text: output.text, num_tokens: output.tokens,
                                                      prompt_tokens: output.promptTokens,
                                                      finish_reason: output.finishReason)))
        }
    }

    private func chatCompletions(_ body: Data, _ isConnected: @escaping @Sendable () -> Bool) async throws -> Response {
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
        let ticket = try await admit()

        guard request.stream == true else {
            let output = try await runGeneration(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling, ticket: ticket,
                                                 isConnected: isConnected)
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
            let output = try await self.runGeneration(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling, ticket: ticket,
                                                      isConnected: isConnected) {
                await send(chunk(Choice(delta: .init(content: $0))))
            }
            await send(chunk(Choice(delta: .init(), finish_reason: output.finishReason), usage: Self.usage(output)))
        }
    }

    private func completions(_ body: Data, _ isConnected: @escaping @Sendable () -> Bool) async throws -> Response {
        let request = try decode(CompletionRequest.self, body)
        let maxNewTokens = try checkedMaxTokens(request.max_tokens, name: "max_tokens")
        let sampling = try openAISampling(temperature: request.temperature, topP: request.top_p, topK: request.top_k,
                                          repetitionPenalty: request.repetition_penalty, seed: request.seed)
        let prompt = request.prompt
        let id = "cmpl-" + Self.randomID()
        let created = Int(Date().timeIntervalSince1970)
        let model = service.modelName
        let ticket = try await admit()

        guard request.stream == true else {
            let output = try await runGeneration(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling, ticket: ticket,
                                                 isConnected: isConnected)
            return json(CompletionObject(id: id, object: "text_completion", created: created, model: model,
                                         choices: [Choice(text: output.text, finish_reason: output.finishReason)],
                                         usage: Self.usage(output)))
        }
        return eventStream { send in
            @Sendable func chunk(_ choice: Choice, usage: Usage? = nil) -> String {
                Self.encode(CompletionObject(id: id, object: "text_completion", created: created,
                                             model: model, choices: [choice], usage: usage))
            }
            let output = try await self.runGeneration(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling, ticket: ticket,
                                                      isConnected: isConnected) {
                await send(chunk(Choice(text: $0)))
            }
            await send(chunk(Choice(text: "", finish_reason: output.finishReason), usage: Self.usage(output)))
        }
    }

    // MARK: Generation, metrics and the proof hook

    /// A place among the running generations (503 with Retry-After when the wait queue is full).
    private func admit() async throws -> GenerationTicket {
        try await queue.admit()
    }

    /// Runs one admitted generation, then records it; a generation its client abandoned is
    /// neither counted nor proven (only delivered work is).
    func runGeneration(prompt: String, maxNewTokens: Int, sampling: SamplingParameters, ticket: GenerationTicket,
                       isConnected: @escaping @Sendable () -> Bool = { true },
                       onText: @escaping @Sendable (String) async -> Void = { _ in }) async throws -> GenerationOutput {
        defer { ticket.release() }
        let start = ContinuousClock.now
        let queue = self.queue
        let firstText = FirstEvent()
        let output: GenerationOutput
        do {
            output = try await service.generate(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling,
                                                isConnected: isConnected) { piece in
                if firstText.happenedNow() { queue.recordFirstToken(seconds: Self.seconds(ContinuousClock.now - ticket.requestedAt)) }
                await onText(piece)
            }
        } catch let error as GenerationCancelled {
            queue.recordCancelled()
            logger.info("\(error)")
            throw error
        }
        let elapsed = ContinuousClock.now - start
        metrics.record(tokens: output.tokens, latencySeconds: Self.seconds(elapsed))
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

    private func errorResponse(_ error: APIError, openAI: Bool = false) -> Response {
        // 503 while loading or busy is expected, not a failure of the node.
        if error.status == .serviceUnavailable {
            logger.notice("request refused: \(error.message)")
        } else if error.status.code >= 500 {
            logger.error("request failed: \(error.message)")
        }
        var response = openAI ? json(OpenAIErrorResponse(error), status: error.status)
                              : json(ErrorResponse(error: error.message), status: error.status)
        if let seconds = error.retryAfterSeconds { response.headers[.retryAfter] = String(seconds) }
        return response
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private func apiError(from error: Error) -> APIError {
        switch error {
        case let error as APIError: return error
        case GenerationServiceError.notReady: return APIError(.serviceUnavailable, "\(error)")
        case GenerationServiceError.busy(_, _, let retryAfter):
            return APIError(.serviceUnavailable, "\(error)", retryAfterSeconds: retryAfter, code: "server_busy")
        case ModelError.cacheFull, SchedulerError.queueFull:
            return APIError(.serviceUnavailable, "the node is busy: \(error)", retryAfterSeconds: queue.retryAfterSeconds,
                            code: "server_busy")
        case let error as GenerationCancelled: return APIError(.serviceUnavailable, error.description)
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
                    } catch is GenerationCancelled {
                        // The client is gone (runGeneration logged it): nobody reads the rest.
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

/// An error answered with `status` and `{"error": message}` (OpenAI's error object on /v1).
struct APIError: Error {
    var status: HTTPResponse.Status
    var message: String
    /// Seconds for the Retry-After header (busy refusals).
    var retryAfterSeconds: Int?
    /// OpenAI's `code` field, e.g. "server_busy".
    var code: String?
    init(_ status: HTTPResponse.Status, _ message: String, retryAfterSeconds: Int? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
        self.code = code
    }
}
