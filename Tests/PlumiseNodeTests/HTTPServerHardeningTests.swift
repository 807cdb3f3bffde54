import Foundation
import PetalsModel
import PetalsTestSupport
import PlumiseNode
import XCTest

/// The API's HTTP server towards odd and hostile clients, over raw sockets on 127.0.0.1: slow
/// headers, HTTP/1.0, HEAD, wrong methods and unknown paths.
final class HTTPServerHardeningTests: XCTestCase {
    private var task: Task<Void, Error>?
    private var port = 0

    override func setUp() async throws {
        try TestModel.requireModel()
        let service = LoadingGenerationService(modelName: "SmolLM2-135M-Instruct")
        let api = HTTPAPI(service: service, metrics: MetricsCollector(),
                          configuration: .init(idleTimeoutSeconds: 1))
        let bound = AsyncStream<Int>.makeStream()
        task = Task { try await api.run(host: "127.0.0.1", port: 0) { bound.continuation.yield($0) } }
        for await p in bound.stream { port = p; break }
    }

    override func tearDown() async throws {
        task?.cancel()
        _ = await task?.result
    }

    /// The status line and body of one raw exchange on a fresh connection, read until the
    /// server closes it (nil when it keeps the connection open past `timeout`).
    private func exchange(_ request: String, timeout: Double = 5) throws -> (status: String, body: String)? {
        let socket = try RawSocket.connect(port: port)
        XCTAssertTrue(socket.send(request))
        guard let bytes = socket.receiveUntilClosed(timeout: timeout) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        let status = String(text.split(separator: "\r\n").first ?? "")
        let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        return (status, body)
    }

    func testHTTP10WithoutKeepAliveIsClosedAfterTheReply() throws {
        let answer = try XCTUnwrap(try exchange("GET /health HTTP/1.0\r\n\r\n", timeout: 0.9),
                                   "the server kept an HTTP/1.0 connection open")
        XCTAssertTrue(answer.status.contains("503"), answer.status) // loading
        XCTAssertTrue(answer.body.contains("\"loading\""), answer.body)
    }

    func testAHeadThatNeverCompletesIsClosedAtTheIdleTimeout() throws {
        let socket = try RawSocket.connect(port: port)
        XCTAssertTrue(socket.send("GET /health HTTP/1.1\r\nHost: x\r\n"))
        // A header byte every 0.25 s: activity, but never a complete head.
        var closed = false
        for _ in 0..<40 {
            if let piece = socket.receive(timeout: 0.25), piece.isEmpty { closed = true; break }
            guard socket.send("X") else { closed = true; break }
        }
        XCTAssertTrue(closed, "a slow header kept its connection for 10 s with a 1 s idle timeout")
    }

    func testHeadWrongMethodsAndUnknownPathsGetProperAnswers() throws {
        let head = try XCTUnwrap(try exchange("HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        XCTAssertTrue(head.status.contains("503"), head.status) // GET's status (loading), no body
        XCTAssertEqual(head.body, "")

        let wrong = try XCTUnwrap(try exchange("DELETE /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        XCTAssertTrue(wrong.status.contains("405"), wrong.status)
        XCTAssertTrue(wrong.body.contains("\"error\""), wrong.body)

        let missing = try XCTUnwrap(try exchange("GET /nothing/here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        XCTAssertTrue(missing.status.contains("404"), missing.status)
        let native = try JSONSerialization.jsonObject(with: Data(missing.body.utf8)) as? [String: Any]
        XCTAssertNotNil(native?["error"] as? String, missing.body)

        let openAI = try XCTUnwrap(try exchange("GET /v1/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        let body = try JSONSerialization.jsonObject(with: Data(openAI.body.utf8)) as? [String: Any]
        let error = try XCTUnwrap(body?["error"] as? [String: Any], openAI.body)
        XCTAssertEqual(error["type"] as? String, "invalid_request_error")
        XCTAssertNotNil(error["message"] as? String)
    }
}
