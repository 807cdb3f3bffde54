import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOFoundationCompat
import PetalsModel
import PetalsTestSupport
import PlumiseChain
import PlumiseNode
import XCTest

/// The HTTP API served for real on an ephemeral port, generating with the real model.
final class HTTPAPITests: XCTestCase {
    final class Inferences: @unchecked Sendable {
        let lock = NSLock()
        var seen: [(prompt: String, output: String, tokens: Int)] = []
    }

    private var task: Task<Void, Error>?
    private var base = ""
    private let metrics = MetricsCollector()
    private let inferences = Inferences()

    override func setUp() async throws {
        try TestModel.requireModel()
        let pipeline = try TestModel.pipeline()
        let description = pipeline.shards[0].modelDescription
        let service = try BackendGenerationService(modelName: "SmolLM2-135M-Instruct", tokenizer: try TestModel.tokenizer(),
                                                   backend: pipeline, chatTemplate: description.tokenizer.chatTemplate)
        (task, base) = await startAPI(service)
    }

    /// Serves `service` on an ephemeral port; returns the server's task and base URL.
    private func startAPI(_ service: any GenerationService, identity: NodeIdentity? = nil) async -> (Task<Void, Error>, String) {
        let inferences = self.inferences
        let api = HTTPAPI(service: service, metrics: metrics,
                          configuration: .init(maxNewTokensLimit: 64, defaultMaxNewTokens: 8), identity: identity) { prompt, output, tokens in
            inferences.lock.withLock { inferences.seen.append((prompt, output, tokens)) }
        }
        let port = AsyncStream<Int>.makeStream()
        let task = Task { try await api.run(host: "127.0.0.1", port: 0) { port.continuation.yield($0) } }
        for await p in port.stream { return (task, "http://127.0.0.1:\(p)") }
        return (task, "")
    }

    /// plumise-inference-api node-router.service.ts classifies a node by GET /health: `mode`
    /// "pipeline" → /api/v1/generate, anything else → OpenAI; plumise-agent api/server.py answers
    /// {status, model, mode, address, uptime, layers}.
    func testHealthTellsTheGatewayTheNodesModeAddressAndLayers() async throws {
        let pipeline = try TestModel.pipeline()
        let service = try BackendGenerationService(modelName: "HuggingFaceTB/SmolLM2-135M-Instruct", tokenizer: try TestModel.tokenizer(),
                                                   backend: pipeline,
                                                   chatTemplate: pipeline.shards[0].modelDescription.tokenizer.chatTemplate)
        let partial = NodeIdentity(address: "0xf9d08344ba72513760563ae1ae7491b54706db1a", blocks: 0..<15, totalBlocks: 30)
        let (partialTask, partialBase) = await startAPI(service, identity: partial)
        defer { partialTask.cancel() }
        let saved = base
        base = partialBase
        defer { base = saved }
        let (status, text) = try await request(.GET, "/health")
        XCTAssertEqual(status, 200)
        let health = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        XCTAssertEqual(health["status"] as? String, "ok")
        XCTAssertEqual(health["model"] as? String, "HuggingFaceTB/SmolLM2-135M-Instruct")
        XCTAssertEqual(health["mode"] as? String, "pipeline")
        XCTAssertEqual(health["address"] as? String, partial.address)
        XCTAssertNotNil(health["uptime"] as? Int)
        XCTAssertEqual(health["layers"] as? [String: Int], ["start": 0, "end": 15, "total": 30])
        XCTAssertEqual(NodeIdentity(address: "", blocks: 0..<30, totalBlocks: 30).mode, "single")
    }

    override func tearDown() async throws {
        task?.cancel()
        _ = await task?.result
    }

    private func request(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let text = String(buffer: try await response.body.collect(upTo: 4 << 20))
        return (Int(response.status.code), text)
    }

    private func object(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    func testHealthAndModels() async throws {
        let (status, body) = try await request(.GET, "/health")
        XCTAssertEqual(status, 200)
        XCTAssertEqual(try object(body)["status"] as? String, "ok")
        XCTAssertEqual(try object(body)["model"] as? String, "SmolLM2-135M-Instruct")
        let (_, models) = try await request(.GET, "/v1/models")
        XCTAssertTrue(models.contains("SmolLM2-135M-Instruct"), models)
    }

    func testGenerateIsTheLocalGreedyOutputAndIsRecorded() async throws {
        let prompt = "The capital of France is"
        let generator = TextGenerator(tokenizer: try TestModel.tokenizer(), backend: try TestModel.pipeline())
        let expected = try generator.generate(promptTokens: generator.tokenize(prompt), maxNewTokens: 6,
                                              sampling: SamplingParameters())
        let (status, body) = try await request(.POST, "/api/v1/generate",
                                               "{\"inputs\":\"\(prompt)\",\"parameters\":{\"max_new_tokens\":6,\"do_sample\":false}}")
        XCTAssertEqual(status, 200, body)
        let answer = try object(body)
        XCTAssertEqual(answer["generated_text"] as? String, expected.text)
        XCTAssertEqual(answer["num_tokens"] as? Int, expected.tokens.count)
        let snapshot = metrics.snapshot()
        XCTAssertEqual(snapshot.requestCount, 1)
        XCTAssertEqual(snapshot.tokensProcessed, expected.tokens.count)
        XCTAssertEqual(inferences.seen.first?.prompt, prompt)
        XCTAssertEqual(inferences.seen.first?.output, expected.text)
        let (_, prometheus) = try await request(.GET, "/metrics")
        XCTAssertTrue(prometheus.contains("plumise_requests_total 1"), prometheus)
        XCTAssertTrue(prometheus.contains("plumise_tokens_processed_total \(expected.tokens.count)"), prometheus)
    }

    func testStreamingSendsServerSentEvents() async throws {
        let (status, body) = try await request(.POST, "/api/v1/generate",
                                               "{\"inputs\":\"Once upon a time\",\"parameters\":{\"max_new_tokens\":5},\"stream\":true}")
        XCTAssertEqual(status, 200)
        let events = body.split(separator: "\n").filter { $0.hasPrefix("data:") }
        XCTAssertEqual(events.count, 5 + 2, body) // one per token, the final summary, [DONE]
        XCTAssertTrue(events[events.count - 2].contains("\"generated_text\""), body)
        XCTAssertEqual(events.last, "data: [DONE]")
    }

    func testOpenAIChatAndCompletions() async throws {
        let (status, body) = try await request(.POST, "/v1/chat/completions",
                                               "{\"model\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hi\"}],\"max_tokens\":6,\"temperature\":0}")
        XCTAssertEqual(status, 200, body)
        let choices = try XCTUnwrap(try object(body)["choices"] as? [[String: Any]])
        let message = try XCTUnwrap(choices.first?["message"] as? [String: Any])
        XCTAssertEqual(message["role"] as? String, "assistant")
        XCTAssertFalse((message["content"] as? String ?? "").isEmpty)
        let (completionStatus, completion) = try await request(.POST, "/v1/completions",
                                                               "{\"prompt\":\"1, 2, 3,\",\"max_tokens\":4,\"temperature\":0}")
        XCTAssertEqual(completionStatus, 200, completion)
        XCTAssertTrue(completion.contains("\"text_completion\"") || completion.contains("\"choices\""), completion)
        let (streamStatus, stream) = try await request(.POST, "/v1/chat/completions",
                                                       "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":3,\"stream\":true}")
        XCTAssertEqual(streamStatus, 200)
        XCTAssertTrue(stream.contains("chat.completion.chunk"), stream)
    }

    func testWhileTheModelLoadsHealthSaysLoadingAndGenerationGets503() async throws {
        let loading = LoadingGenerationService(modelName: "SmolLM2-135M-Instruct")
        let (task, loadingBase) = await startAPI(loading)
        defer { task.cancel() }
        let mainBase = base
        base = loadingBase
        defer { base = mainBase }

        let (healthStatus, health) = try await request(.GET, "/health")
        XCTAssertEqual(healthStatus, 503)
        XCTAssertEqual(try object(health)["status"] as? String, "loading")
        for (path, body) in [("/api/v1/generate", "{\"inputs\":\"Hi\"}"),
                             ("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}")] {
            let (status, answer) = try await request(.POST, path, body)
            XCTAssertEqual(status, 503, answer)
            XCTAssertTrue(answer.contains("loading"), answer)
        }

        let pipeline = try TestModel.pipeline()
        loading.finishLoading(try BackendGenerationService(
            modelName: "SmolLM2-135M-Instruct", tokenizer: try TestModel.tokenizer(), backend: pipeline,
            chatTemplate: pipeline.shards[0].modelDescription.tokenizer.chatTemplate))
        let (status, _) = try await request(.GET, "/health")
        XCTAssertEqual(status, 200)
        let (generated, answer) = try await request(.POST, "/api/v1/generate", "{\"inputs\":\"Hi\",\"parameters\":{\"max_new_tokens\":2}}")
        XCTAssertEqual(generated, 200, answer)
    }

    func testBadRequestsGet400WithAMessage() async throws {
        for body in ["{not json", "{\"inputs\":\"x\",\"parameters\":{\"max_new_tokens\":0}}",
                     "{\"inputs\":\"x\",\"parameters\":{\"max_new_tokens\":100000}}",
                     "{\"inputs\":\"x\",\"parameters\":{\"temperature\":-1}}", "{\"parameters\":{}}"] {
            let (status, answer) = try await request(.POST, "/api/v1/generate", body)
            XCTAssertEqual(status, 400, body)
            XCTAssertNotNil(try object(answer)["error"], answer)
        }
        XCTAssertEqual(metrics.snapshot().requestCount, 0)
    }
}
