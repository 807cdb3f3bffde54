import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOFoundationCompat
import PetalsModel
import PetalsTestSupport
import PlumiseNode
import XCTest

/// The OpenAI-compatible surface served for real on an ephemeral port with the real model:
/// the parameters clients send, checked against the model run in this process.
final class OpenAIAPITests: XCTestCase {
    private var task: Task<Void, Error>?
    private var base = ""

    override func setUp() async throws {
        try TestModel.requireModel()
        let pipeline = try TestModel.pipeline()
        let service = try BackendGenerationService(modelName: "SmolLM2-135M-Instruct", tokenizer: try TestModel.tokenizer(),
                                                   backend: pipeline,
                                                   chatTemplate: pipeline.shards[0].modelDescription.tokenizer.chatTemplate)
        let api = HTTPAPI(service: service, metrics: MetricsCollector(),
                          configuration: .init(maxNewTokensLimit: 64, defaultMaxNewTokens: 8))
        let port = AsyncStream<Int>.makeStream()
        task = Task { try await api.run(host: "127.0.0.1", port: 0) { port.continuation.yield($0) } }
        for await p in port.stream { base = "http://127.0.0.1:\(p)"; break }
    }

    override func tearDown() async throws {
        task?.cancel()
        _ = await task?.result
    }

    private func post(_ path: String, _ body: [String: Any]) async throws -> (Int, String, [String: Any]?) {
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        let text = String(buffer: try await response.body.collect(upTo: 8 << 20))
        return (Int(response.status.code), text, try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    private func greedy(_ prompt: String, tokens: Int) throws -> GenerationResult {
        let generator = TextGenerator(tokenizer: try TestModel.tokenizer(), backend: try TestModel.pipeline())
        return try generator.generate(promptTokens: generator.tokenize(prompt), maxNewTokens: tokens,
                                      sampling: SamplingParameters())
    }

    func testStopCutsTheTextOnBothEndpoints() async throws {
        let prompt = "1, 2, 3, 4,"
        let free = try greedy(prompt, tokens: 12).text
        let stop = try XCTUnwrap(free.range(of: " 7")).lowerBound
        let (status, text, native) = try await post("/api/v1/generate", [
            "inputs": prompt, "parameters": ["max_new_tokens": 12, "do_sample": false, "stop": [" 7"]]])
        XCTAssertEqual(status, 200, text)
        XCTAssertEqual(native?["generated_text"] as? String, String(free[..<stop]))
        XCTAssertEqual(native?["finish_reason"] as? String, "stop")
        let (_, _, openAI) = try await post("/v1/completions", ["prompt": prompt, "max_tokens": 12, "temperature": 0,
                                                                 "stop": " 7"])
        let choice = try XCTUnwrap((openAI?["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual(choice["text"] as? String, String(free[..<stop]))
        XCTAssertEqual(choice["finish_reason"] as? String, "stop")
    }

    func testLogprobsAreTheModelsLogSoftmax() async throws {
        let prompt = "The capital of France is"
        // The reference: the logits of the prompt's last position, log-softmaxed here.
        let generator = TextGenerator(tokenizer: try TestModel.tokenizer(), backend: try TestModel.pipeline())
        let logits = try generator.backend.openSession(capacity: 16).step(generator.tokenize(prompt)).map(Double.init)
        let top = logits.max() ?? 0
        let logZ = top + log(logits.reduce(0) { $0 + exp($1 - top) })
        let best = logits.indices.max { logits[$0] < logits[$1] } ?? 0

        let (status, text, body) = try await post("/v1/completions", ["prompt": prompt, "max_tokens": 2, "temperature": 0,
                                                                       "logprobs": 2])
        XCTAssertEqual(status, 200, text)
        let choice = try XCTUnwrap((body?["choices"] as? [[String: Any]])?.first)
        let logprobs = try XCTUnwrap(choice["logprobs"] as? [String: Any], text)
        let first = try XCTUnwrap((logprobs["token_logprobs"] as? [Double])?.first)
        XCTAssertEqual(first, logits[best] - logZ, accuracy: 1e-4)
        XCTAssertEqual((logprobs["top_logprobs"] as? [[String: Double]])?.first?.count, 2)
    }

    func testTokenIDPromptsGenerateWhatTheirTextDoes() async throws {
        let prompt = "Once upon a time"
        let ids = TextGenerator(tokenizer: try TestModel.tokenizer(), backend: try TestModel.pipeline()).tokenize(prompt)
        let (_, text, byText) = try await post("/v1/completions", ["prompt": prompt, "max_tokens": 5, "temperature": 0])
        let (_, _, byIDs) = try await post("/v1/completions", ["prompt": ids, "max_tokens": 5, "temperature": 0])
        let expected = (byText?["choices"] as? [[String: Any]])?.first?["text"] as? String
        XCTAssertNotNil(expected, text)
        XCTAssertEqual((byIDs?["choices"] as? [[String: Any]])?.first?["text"] as? String, expected)
    }

    func testAFailureBeforeTheFirstTokenIsAnHTTPErrorNotA200Stream() async throws {
        // More tokens than the model's context: refused by the generation, before any text.
        let (status, text, body) = try await post("/v1/completions", [
            "prompt": String(repeating: "word ", count: 8300), "max_tokens": 8, "stream": true])
        XCTAssertEqual(status, 400, text)
        let error = try XCTUnwrap(body?["error"] as? [String: Any], text)
        XCTAssertTrue((error["message"] as? String ?? "").contains("context"), text)
        XCTAssertEqual(error["type"] as? String, "invalid_request_error")
    }

    func testParametersOutsideOpenAIsRangesAndUnsupportedOnesAre400NamingThem() async throws {
        let chat: [String: Any] = ["messages": [["role": "user", "content": "Hi"]], "max_tokens": 2]
        for (name, value) in [("presence_penalty", 2.5), ("frequency_penalty", -3.0)] as [(String, Any)] {
            let (status, text, body) = try await post("/v1/chat/completions", chat.merging([name: value]) { $1 })
            XCTAssertEqual(status, 400, text)
            XCTAssertEqual((body?["error"] as? [String: Any])?["param"] as? String, name, text)
        }
        let (status, text, body) = try await post("/v1/chat/completions", chat.merging(["tools": [["type": "function"]]]) { $1 })
        XCTAssertEqual(status, 400, text)
        XCTAssertEqual((body?["error"] as? [String: Any])?["param"] as? String, "tools", text)
        let (seeded, seededText, _) = try await post("/v1/chat/completions", chat.merging(["seed": -1]) { $1 })
        XCTAssertEqual(seeded, 200, seededText)
    }
}
