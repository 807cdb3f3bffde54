import Foundation
#if canImport(Glibc)
import Glibc
#endif
import PetalsModel
import PetalsTestSupport
import PlumiseNode
import XCTest

/// The API under load and abandonment, over real sockets: a bounded wait queue (503 with
/// Retry-After), and generations that stop when their client goes away and are not counted.
final class GenerationQueueTests: XCTestCase {
    final class Inferences: @unchecked Sendable {
        let lock = NSLock()
        var count = 0
    }

    private var task: Task<Void, Error>?
    private var port = 0
    private let metrics = MetricsCollector()
    private let inferences = Inferences()

    override func setUp() async throws {
        try TestModel.requireModel()
        let pipeline = try TestModel.pipeline()
        let service = try BackendGenerationService(modelName: "SmolLM2-135M-Instruct", tokenizer: try TestModel.tokenizer(),
                                                   backend: pipeline,
                                                   chatTemplate: pipeline.shards[0].modelDescription.tokenizer.chatTemplate)
        let inferences = self.inferences
        let api = HTTPAPI(service: service, metrics: metrics,
                          configuration: .init(maxNewTokensLimit: 256, defaultMaxNewTokens: 8, maxConcurrentGenerations: 1,
                                               maxQueuedGenerations: 0)) { _, _, _ in
            inferences.lock.withLock { inferences.count += 1 }
        }
        let ports = AsyncStream<Int>.makeStream()
        task = Task { try await api.run(host: "127.0.0.1", port: 0) { ports.continuation.yield($0) } }
        for await p in ports.stream {
            port = p
            break
        }
    }

    override func tearDown() async throws {
        task?.cancel()
        _ = await task?.result
    }

    private func post(_ path: String, _ body: String) throws -> RawHTTPConnection {
        let connection = try RawHTTPConnection(port: port)
        try connection.send("POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n" +
                            "Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
        return connection
    }

    private func metricsText() throws -> String {
        let connection = try RawHTTPConnection(port: port)
        defer { connection.close() }
        try connection.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return try connection.readAll()
    }

    /// The value of an unlabelled metric line `name value`.
    private func metric(_ name: String) throws -> Double? {
        try metricsText().split(separator: "\n").first { $0.hasPrefix(name + " ") }
            .flatMap { Double($0.split(separator: " ")[1]) }
    }

    /// Polls /metrics until `name` reaches `value` (bounded), returning the last value seen.
    private func waitFor(_ name: String, _ value: Double) throws -> Double? {
        var seen: Double?
        for _ in 0..<600 {
            seen = try metric(name)
            if seen == value { break }
            usleep(50_000)
        }
        return seen
    }

    private let longStream = #"{"inputs":"Once upon a time","parameters":{"max_new_tokens":256,"do_sample":false},"stream":true}"#

    func testAFullQueueAnswers503WithRetryAfterAndOpenAIErrorsOnV1() throws {
        let running = try post("/api/v1/generate", longStream)
        defer { running.close() }
        _ = try running.read(until: "data:") // the only place is taken

        let refused = try post("/v1/chat/completions", #"{"messages":[{"role":"user","content":"Hi"}],"max_tokens":4}"#)
        let answer = try refused.readAll()
        refused.close()
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 503"), answer)
        XCTAssertTrue(answer.lowercased().contains("retry-after: 1"), answer)
        let body = try XCTUnwrap(answer.components(separatedBy: "\r\n\r\n").last)
        let error = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["error"] as? [String: Any], body)
        XCTAssertTrue((error["message"] as? String ?? "").contains("busy"), body)
        XCTAssertEqual(error["type"] as? String, "server_error")
        XCTAssertEqual(error["code"] as? String, "server_busy")
        XCTAssertTrue(error.keys.contains("param"), body)

        let plain = try post("/api/v1/generate", #"{"inputs":"Hi","stream":true}"#)
        let plainAnswer = try plain.readAll()
        plain.close()
        XCTAssertTrue(plainAnswer.hasPrefix("HTTP/1.1 503"), "refused before the stream starts: \(plainAnswer)")
        XCTAssertEqual(try metric("plumise_generations_refused_total"), 2)
        XCTAssertEqual(try metric("plumise_generation_queue_length"), 0)
        XCTAssertEqual(try metric("plumise_generation_queue_capacity"), 0)
    }

    func testAClientThatLeavesAStreamStopsItsGenerationAndIsNotCounted() throws {
        let stream = try post("/api/v1/generate", longStream)
        _ = try stream.read(until: "data:")
        _ = try stream.read(until: "data:")
        stream.close()
        XCTAssertEqual(try waitFor("plumise_generations_cancelled_total", 1), 1)
        XCTAssertEqual(try waitFor("plumise_generations_running", 0), 0, "its place is free again")
        XCTAssertEqual(metrics.snapshot().tokensProcessed, 0, "abandoned work is not counted")
        XCTAssertEqual(metrics.snapshot().requestCount, 0)
        XCTAssertEqual(inferences.lock.withLock { inferences.count }, 0, "nor proven")
        try checkANewRequestIsServed()
    }

    func testAClientThatHangsUpOnAPlainRequestStopsItsGeneration() throws {
        let request = try post("/api/v1/generate", #"{"inputs":"Once upon a time","parameters":{"max_new_tokens":256}}"#)
        XCTAssertEqual(try waitFor("plumise_generations_running", 1), 1)
        request.close()
        XCTAssertEqual(try waitFor("plumise_generations_cancelled_total", 1), 1)
        XCTAssertEqual(try waitFor("plumise_generations_running", 0), 0)
        XCTAssertEqual(metrics.snapshot().tokensProcessed, 0)
        try checkANewRequestIsServed()
    }

    private func checkANewRequestIsServed() throws {
        let next = try post("/api/v1/generate", #"{"inputs":"Hi","parameters":{"max_new_tokens":3}}"#)
        let answer = try next.readAll(untilBodyContains: "finish_reason")
        next.close()
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 200"), answer)
        XCTAssertEqual(metrics.snapshot().requestCount, 1)
        XCTAssertGreaterThanOrEqual(try metric("plumise_time_to_first_token_seconds_count") ?? 0, 1)
        XCTAssertNotNil(try metric("plumise_batch_sequences_count"))
    }
}

/// A plain TCP connection to 127.0.0.1 for HTTP written and read by hand (a client that hangs up
/// whenever the test says so).
final class RawHTTPConnection {
    private let fd: Int32
    private var buffer = Data()

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, result == 0 else { throw POSIXError(.ECONNREFUSED) }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close() }

    private var closed = false
    func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw POSIXError(.EPIPE) }
    }

    /// Reads until the text received so far (from the last cut) contains `marker`; returns it.
    func read(until marker: String) throws -> String {
        while true {
            if let range = String(decoding: buffer, as: UTF8.self).range(of: marker) {
                let text = String(decoding: buffer, as: UTF8.self)
                let end = text.distance(from: text.startIndex, to: range.upperBound)
                let taken = String(text.prefix(end))
                buffer = Data(text.dropFirst(end).utf8)
                return taken
            }
            guard try receive() else { throw POSIXError(.ECONNRESET) }
        }
    }

    /// Reads until the peer closes (or, with a marker, until it has arrived).
    func readAll(untilBodyContains marker: String? = nil) throws -> String {
        while true {
            if let marker, String(decoding: buffer, as: UTF8.self).contains(marker) { break }
            guard try receive() else { break }
        }
        return String(decoding: buffer, as: UTF8.self)
    }

    private func receive() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = Glibc.read(fd, &chunk, chunk.count)
        guard n >= 0 else { throw POSIXError(.ETIMEDOUT) }
        buffer.append(contentsOf: chunk[0..<n])
        return n > 0
    }
}
