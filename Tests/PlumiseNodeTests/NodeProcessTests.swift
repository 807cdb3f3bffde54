import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import PetalsModel
import PetalsTestSupport
import PlumiseChain
import PlumiseNode
import XCTest

/// `plumise-petals serve` as users run it: a real process, a local chain stand-in recording the
/// raw transactions it receives, and a local oracle verifying report signatures.
final class NodeProcessTests: XCTestCase {
    private let key = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
    private var wallet: Wallet { try! Wallet(privateKey: key) }
    private var cleanup: [() -> Void] = []
    private var emptyEnvFile = ""

    override func setUpWithError() throws {
        try TestModel.requireModel()
        // An empty settings file: a developer's own .env must not leak into the test.
        emptyEnvFile = FileManager.default.temporaryDirectory.appendingPathComponent("node-\(UUID().uuidString).env").path
        FileManager.default.createFile(atPath: emptyEnvFile, contents: Data())
        cleanup.append { [emptyEnvFile] in try? FileManager.default.removeItem(atPath: emptyEnvFile) }
    }

    override func tearDown() {
        cleanup.reversed().forEach { $0() }
        cleanup = []
    }

    /// A chain that starts with no agents and registers the sender of a transaction to 0x21.
    private func startChain() throws -> TestRPCServer {
        final class State: @unchecked Sendable { var agents: Set<Address> = []; var nonce = 0 }
        let state = State() // only touched under the server's lock
        let chain = try TestRPCServer { method, params in
            switch method {
            case "eth_chainId": return .result(.string("0xa3e4"))
            case "eth_getBalance": return .result(.string("0xde0b6b3a7640000"))
            case "eth_getTransactionCount": return .result(.string("0x" + String(state.nonce, radix: 16)))
            case "eth_gasPrice": return .result(.string("0x3b9aca00"))
            case "agent_isAgentAccount":
                // The real chain's (address, block) form (plumise-contracts test/e2e/TEST_RESULTS.md).
                guard params.count == 2 else { return .error(code: -32602, message: "missing value for required argument 1") }
                let address = try? Address(params.first?.string ?? "")
                return .result(.bool(address.map(state.agents.contains) ?? false))
            case "eth_sendRawTransaction":
                guard let raw = Hex.decode(params.first?.string ?? ""), let tx = try? SignedTransaction.decode(raw: raw) else {
                    return .error(code: -32602, message: "bad transaction")
                }
                if tx.transaction.to == PlumiseAddresses.agentRegister { state.agents.insert(tx.sender) }
                state.nonce += 1
                return .result(.string(tx.hashHex))
            case "eth_getTransactionReceipt":
                return .result(.object(["status": .string("0x1"), "blockNumber": .string("0x\(state.nonce)"),
                                        "gasUsed": .string("0x5208")]))
            default: return .error(code: -32601, message: "method \(method) not found")
            }
        }
        cleanup.append { chain.stop() }
        return chain
    }

    private func startOracle() throws -> (TestOracle, TestHTTPServer) {
        let oracle = TestOracle()
        let server = try TestHTTPServer { oracle.handle($0) }
        cleanup.append { server.stop() }
        return (oracle, server)
    }

    /// Starts a full node and returns it with its HTTP API base URL.
    private func startNode(_ arguments: [String], rpcURL: String, oracleURL: String,
                           environment: [String: String] = [:]) throws -> (CLIProcess, String) {
        let node = try CLIProcess(["serve", "--env-file", emptyEnvFile, "--watch-pid", "\(getpid())",
                                   "--model", TestModel.path, "--threads", "1", "--host", "127.0.0.1", "--port", "0",
                                   "--api-port", "0", "--rpc-url", rpcURL, "--oracle-url", oracleURL] + arguments,
                                  environment: environment.merging(["PLUMISE_PRIVATE_KEY": key]) { $1 })
        let ready = try node.waitUntilReady(timeout: 120)
        let parts = ready.split(separator: " ")
        guard parts.count == 3, parts[1] == "api", let port = Int(parts[2]) else {
            throw CLIProcessError.notReady(stdout: ready, stderr: node.errorOutput)
        }
        return (node, "http://127.0.0.1:\(port)")
    }

    private func http(_ url: String, body: String? = nil) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: url)
        if let body {
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 4 << 20)))
    }

    private func generate(_ base: String, _ prompt: String, tokens: Int) async throws -> [String: Any] {
        let (status, body) = try await http(base + "/api/v1/generate", body:
            "{\"inputs\":\"\(prompt)\",\"parameters\":{\"max_new_tokens\":\(tokens),\"do_sample\":false}}")
        XCTAssertEqual(status, 200, body)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any], body)
    }

    /// A streamed greedy completion once its first chunk has arrived (so it is running).
    private func startStream(_ base: String, maxTokens: Int) async throws -> HTTPClientResponse.Body.AsyncIterator {
        var request = HTTPClientRequest(url: base + "/v1/completions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"prompt":"Once upon a time","max_tokens":\#(maxTokens),"temperature":0,"stream":true}"#))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        XCTAssertEqual(response.status.code, 200)
        var chunks = response.body.makeAsyncIterator()
        let first = try await chunks.next()
        XCTAssertNotNil(first, "streaming")
        return chunks
    }

    /// The rest of a stream, to its end.
    private func readToEnd(_ chunks: inout HTTPClientResponse.Body.AsyncIterator) async throws -> String {
        var text = ""
        while let chunk = try await chunks.next() { text += String(buffer: chunk) }
        return text
    }

    private func localGreedy(_ prompt: String, tokens: Int) throws -> GenerationResult {
        let generator = TextGenerator(tokenizer: try TestModel.tokenizer(), backend: try TestModel.pipeline())
        return try generator.generate(promptTokens: generator.tokenize(prompt), maxNewTokens: tokens, sampling: SamplingParameters())
    }

    private func waitFor(_ what: String, timeout: Double = 30, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while try !condition() {
            guard Date() < deadline else { return XCTFail("timed out waiting for \(what)") }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    func testTheNodeRegistersServesAndSendsItsProofsInTheFinalReportOnSIGTERM() async throws {
        let chain = try startChain()
        let (oracle, oracleServer) = try startOracle()
        let (node, base) = try startNode([], rpcURL: chain.url, oracleURL: oracleServer.url,
                                         environment: ["VERIFY_ON_CHAIN": "true"])

        // Registration through 0x21, signed by the agent key for chain 41956.
        try waitFor("registration") { try !chain.sentTransactions().isEmpty }
        let registration = try XCTUnwrap(try chain.sentTransactions().first)
        XCTAssertEqual(registration.sender, wallet.address)
        XCTAssertEqual(registration.transaction.to, PlumiseAddresses.agentRegister)
        XCTAssertEqual(registration.transaction.chainID, 41956)
        // The model id the network knows it by (ModelIdentity: organization + file stem).
        let modelName = try XCTUnwrap(try TestModel.pipeline().shards[0].modelDescription.modelID)
        XCTAssertEqual(modelName, "HuggingFaceTB/SmolLM2-135M-Instruct")
        let name = ChainAgent.defaultName(modelName: TestModel.path, address: wallet.address)
        XCTAssertEqual(registration.transaction.data,
                       ChainAgent.registerPayload(name: name, modelHash: Keccak.hash256(modelName),
                                                  capabilities: [Keccak.hash256("text-generation")]))

        // Generation through the HTTP API equals local greedy decoding.
        let prompt = "The capital of France is"
        let expected = try localGreedy(prompt, tokens: 6)
        let answer = try await generate(base, prompt, tokens: 6)
        XCTAssertEqual(answer["generated_text"] as? String, expected.text)
        let (_, prometheus) = try await http(base + "/metrics")
        XCTAssertTrue(prometheus.contains("plumise_requests_total 1"), prometheus)
        XCTAssertTrue(prometheus.contains("plumise_proofs_pending 1"), prometheus)
        XCTAssertTrue(prometheus.contains("plumise_cache_capacity_bytes \(2 * 30 * 192 * 2 * 32_768)"), prometheus)

        // VERIFY_ON_CHAIN: the proof also goes to precompile 0x20.
        let proof = InferenceProof(modelName: modelName, input: prompt, output: expected.text,
                                   agent: wallet.address, tokenCount: expected.tokens.count)
        try waitFor("verifyInference") {
            try chain.sentTransactions().contains { $0.transaction.to == PlumiseAddresses.verifyInference }
        }
        let verification = try XCTUnwrap(try chain.sentTransactions().first { $0.transaction.to == PlumiseAddresses.verifyInference })
        XCTAssertEqual(verification.transaction.data, proof.verifyPayload)
        XCTAssertEqual(verification.sender, wallet.address)

        // SIGTERM: exit 0 after a final signed report carrying the counters and the proof.
        node.kill(SIGTERM)
        XCTAssertEqual(node.waitForExit(timeout: 30), 0, node.errorOutput)
        let report = try XCTUnwrap(oracle.reports.last, node.errorOutput)
        XCTAssertEqual(report.wallet, wallet.address.description)
        XCTAssertEqual(report.requestCount, 1)
        XCTAssertEqual(report.tokensProcessed, expected.tokens.count)
        XCTAssertEqual(report.proofs, [proof.reported])
        XCTAssertFalse(node.errorOutput.contains(String(key.dropFirst(2).prefix(16))), "the key appeared in the log")
    }

    func testANodeWithSomeBlocksGeneratesThroughItsPeerWhileChainAndOracleAreDown() async throws {
        let peer = try CLIProcess(["serve", "--shard-only", "--watch-pid", "\(getpid())", "--model", TestModel.path,
                                   "--threads", "1", "--host", "127.0.0.1", "--port", "0", "--blocks", "15:30"])
        let peerAddress = try peer.waitUntilReady()
        // Nothing listens on port 1: the chain and the oracle are unreachable.
        let (node, base) = try startNode(["--blocks", "0:15", "--peers", peerAddress],
                                         rpcURL: "http://127.0.0.1:1", oracleURL: "http://127.0.0.1:1")
        let (status, health) = try await http(base + "/health")
        XCTAssertEqual(status, 200, health)

        let prompt = "Once upon a time"
        let expected = try localGreedy(prompt, tokens: 8)
        let answer = try await generate(base, prompt, tokens: 8)
        XCTAssertEqual(answer["generated_text"] as? String, expected.text)
        XCTAssertEqual(answer["num_tokens"] as? Int, expected.tokens.count)

        node.kill(SIGINT)
        XCTAssertEqual(node.waitForExit(timeout: 30), 0, node.errorOutput)
    }

    func testTheGenerationLimitsFromTheCommandLineBoundTheAPI() async throws {
        // One generation at a time and no waiting room: while a streamed completion runs, a
        // second request is refused at once with 503, Retry-After and an OpenAI-style error.
        let (node, base) = try startNode(["--max-generations", "1", "--max-queued-generations", "0"],
                                         rpcURL: "http://127.0.0.1:1", oracleURL: "http://127.0.0.1:1")
        var chunks = try await startStream(base, maxTokens: 300)

        var second = HTTPClientRequest(url: base + "/v1/completions")
        second.method = .POST
        second.headers.add(name: "Content-Type", value: "application/json")
        second.body = .bytes(ByteBuffer(string: #"{"prompt":"Hello","max_tokens":4}"#))
        let refused = try await HTTPClient.shared.execute(second, timeout: .seconds(60))
        XCTAssertEqual(refused.status.code, 503)
        XCTAssertNotNil(refused.headers.first(name: "Retry-After").flatMap(Int.init), "\(refused.headers)")
        let body = String(buffer: try await refused.body.collect(upTo: 1 << 20))
        let error = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["error"] as? [String: Any], body)
        XCTAssertNotNil(error["message"] as? String, body)
        XCTAssertNotNil(error["type"] as? String, body)

        // The running stream was not disturbed, and its place is free again once it ends.
        let rest = try await readToEnd(&chunks)
        XCTAssertTrue(rest.contains("data: [DONE]"), rest)
        let (status, after) = try await http(base + "/v1/completions", body: #"{"prompt":"Hello","max_tokens":4}"#)
        XCTAssertEqual(status, 200, after)

        node.kill(SIGINT)
        XCTAssertEqual(node.waitForExit(timeout: 30), 0, node.errorOutput)
    }

    func testShutdownLetsShortGenerationsFinishAndStopsLongOnesAfterTheGrace() async throws {
        let chain = try startChain()
        let (oracle, oracleServer) = try startOracle()
        let (node, base) = try startNode(["--shutdown-grace", "2"], rpcURL: chain.url, oracleURL: oracleServer.url)
        try waitFor("registration") { try !chain.sentTransactions().isEmpty }
        // Both run when the signal comes: the short one ends within the grace, the long one
        // (minutes of tokens on one thread) is stopped after it with an error event.
        var long = try await startStream(base, maxTokens: 4000)
        var short = try await startStream(base, maxTokens: 24)
        node.kill(SIGINT)
        let shortRest = try await readToEnd(&short)
        XCTAssertTrue(shortRest.contains(#""finish_reason":"length""#) && shortRest.hasSuffix("data: [DONE]\n\n"), shortRest)
        XCTAssertFalse(shortRest.contains("error"), shortRest)
        let longRest = try await readToEnd(&long)
        XCTAssertTrue(longRest.contains("server_shutting_down") && longRest.hasSuffix("data: [DONE]\n\n"), String(longRest.suffix(400)))
        XCTAssertEqual(node.waitForExit(timeout: 60), 0, node.errorOutput)
        // The final report went out after the drain: it carries the generation that finished in
        // it (the stopped one, like an abandoned one, is neither counted nor proven).
        let report = try XCTUnwrap(oracle.reports.last, node.errorOutput)
        XCTAssertEqual(report.requestCount, 1)
        XCTAssertEqual(report.tokensProcessed, 24)
        XCTAssertEqual(report.proofs?.count, 1)
    }

    func testATakenAPIPortStopsTheNodeBeforeItTouchesTheChainAndNamesThePort() throws {
        let chain = try startChain()
        let taken = try RawListener()
        let node = try CLIProcess(["serve", "--env-file", emptyEnvFile, "--model", TestModel.path, "--host", "127.0.0.1",
                                   "--port", "0", "--api-port", "\(taken.port)", "--rpc-url", chain.url,
                                   "--oracle-url", "http://127.0.0.1:1"],
                                  environment: ["PLUMISE_PRIVATE_KEY": key])
        let status = node.waitForExit(timeout: 60)
        XCTAssertNotNil(status)
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(node.errorOutput.contains("127.0.0.1:\(taken.port)") && node.errorOutput.contains("--api-port"),
                      node.errorOutput)
        XCTAssertTrue(chain.recorded.isEmpty, "called the chain before binding its ports: \(chain.recorded.map(\.method))")
    }

    func testServeWithoutAKeyOrWithABadSettingExplainsWhy() throws {
        let cases: [([String], [String: String], String)] = [
            ([], ["PLUMISE_PRIVATE_KEY": ""], "PLUMISE_PRIVATE_KEY is not set"),
            (["--report-interval", "5"], ["PLUMISE_PRIVATE_KEY": key], "REPORT_INTERVAL"),
            (["--rpc-url", "localhost:26902"], ["PLUMISE_PRIVATE_KEY": key], "PLUMISE_RPC_URL"),
            (["--max-generations", "0"], ["PLUMISE_PRIVATE_KEY": key], "--max-generations must be at least 1"),
            (["--max-queued-generations=-1"], ["PLUMISE_PRIVATE_KEY": key], "--max-queued-generations must be 0 or more"),
            (["--shutdown-grace=-1"], ["PLUMISE_PRIVATE_KEY": key], "--shutdown-grace must be 0 or more"),
        ]
        for (arguments, environment, message) in cases {
            let node = try CLIProcess(["serve", "--env-file", emptyEnvFile, "--model", TestModel.path] + arguments,
                                      environment: environment)
            let status = node.waitForExit(timeout: 30)
            XCTAssertNotNil(status)
            XCTAssertNotEqual(status, 0)
            XCTAssertTrue(node.errorOutput.contains(message), node.errorOutput)
        }
    }
}
