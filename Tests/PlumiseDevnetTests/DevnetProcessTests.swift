import BigInt
import Foundation
import PetalsTestSupport
import PlumiseChain
import PlumiseDevnet
import XCTest

/// The real `plumise-petals devnet --with-nodes 2`: two `serve` processes split the model,
/// register on the dev chain, beat, report to the dev oracle, and generate through each other.
final class DevnetProcessTests: XCTestCase {
    func testDevnetWithTwoNodesRegistersReportsAndGenerates() async throws {
        try TestModel.requireModel()
        let executable = TestModel.buildDirectory + "/plumise-petals"
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw XCTSkip("\(executable) is not built (run swift build before swift test)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("devnet-e2e-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let devnet = Process()
        devnet.executableURL = URL(fileURLWithPath: executable)
        devnet.arguments = ["devnet", "--with-nodes", "2", "--chain-port", "0", "--oracle-port", "0", "--data-dir", directory,
                            "--epoch-seconds", "3600", "--report-interval", "10", "--heartbeat-interval", "2",
                            "--model", TestModel.path, "--plugins-dir", TestModel.buildDirectory]
        devnet.currentDirectoryURL = TestModel.repositoryRoot
        let output = LineCollector()
        let pipe = Pipe()
        devnet.standardOutput = pipe
        devnet.standardError = FileHandle(forWritingAtPath: "/dev/null")
        pipe.fileHandleForReading.readabilityHandler = { output.append($0.availableData) }
        try devnet.run()
        defer { if devnet.isRunning { kill(devnet.processIdentifier, SIGKILL) } }

        let ready = try await output.line(startingWith: "devnet ready chain ", timeout: 30, while: devnet)
        let words = ready.split(separator: " ")
        let chainURL = String(words[3]), oracleURL = String(words[5])
        XCTAssertTrue(output.text.contains("never use them on mainnet"))
        XCTAssertTrue(output.text.contains(DevAccounts.account(0).privateKey))
        let node0 = try await output.line(startingWith: "node 0 ready", timeout: 90, while: devnet)
        let node1 = try await output.line(startingWith: "node 1 ready", timeout: 90, while: devnet)
        XCTAssertTrue(node0.contains("blocks 0:15") && node1.contains("blocks 15:30"), "\(node0)\n\(node1)")
        let apiURL = try XCTUnwrap(node0.split(separator: " ").drop { $0 != "api" }.dropFirst().first.map(String.init))

        // Both nodes register on the chain by themselves and beat.
        let rpc = ChainRPC(url: chainURL, timeoutSeconds: 5)
        for account in [DevAccounts.account(0), DevAccounts.account(1)] {
            try await eventually("\(account.address) registers", timeout: 30) { try await rpc.isAgentAccount(account.address) }
            try await eventually("\(account.address) beats", timeout: 30) {
                let status = try await rpc.agentStatus(account.address)
                return status.lastHeartbeat > 0
            }
        }

        // A generation through node 0's API runs blocks 0:15 there and 15:30 on node 1.
        let body = #"{"inputs": "The capital of France is", "parameters": {"max_new_tokens": 6}}"#
        let generated = try await HTTP.request("POST", apiURL + "/api/v1/generate", json: Data(body.utf8))
        XCTAssertEqual(generated.status, 200, "\(generated.body)")
        XCTAssertEqual(generated.body["num_tokens"]?.number, 6)
        XCTAssertFalse(generated.body["generated_text"]?.string?.isEmpty ?? true)

        // Its reports reach the oracle, with the proof of that generation.
        let agent0 = DevAccounts.account(0).address
        try await eventually("node 0's proof reaches the oracle", timeout: 30) {
            let proofs = try await HTTP.get(oracleURL + "/api/v1/proofs/\(agent0)")
            return (proofs.body["count"]?.number ?? 0) >= 1
        }
        let metrics = try await HTTP.get(oracleURL + "/api/v1/metrics/agents/\(agent0)")
        XCTAssertGreaterThanOrEqual(metrics.body["requestCount"]?.number ?? 0, 1)
        // Each node announced itself: listed with its API endpoint, ready in the model's pipeline.
        let client = OracleClient(oracleURL: oracleURL)
        try await eventually("both nodes ready in the topology", timeout: 30) {
            let topology = try await client.topology(model: "HuggingFaceTB/SmolLM2-135M-Instruct")
            return topology.count == 2 && topology.allSatisfy(\.ready)
        }
        let listed = try await client.nodes()
        XCTAssertTrue(listed.contains { $0.endpoint == apiURL && $0.capabilities == ["inference", "HuggingFaceTB/SmolLM2-135M-Instruct"] },
                      "\(listed)")

        // SIGTERM stops the nodes, then the devnet.
        kill(devnet.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(40)
        while devnet.isRunning && Date() < deadline { try await Task.sleep(nanoseconds: 100_000_000) }
        XCTAssertFalse(devnet.isRunning)
        XCTAssertEqual(devnet.terminationStatus, 0)
        XCTAssertTrue(output.text.contains("devnet: stopping 2 nodes"))
    }

    private func eventually(_ what: String, timeout: Double, _ condition: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(nanoseconds: 250_000_000)
        }
        XCTFail("timed out waiting until \(what)")
        throw CancellationError()
    }
}

/// A child's stdout, collected as it arrives.
final class LineCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = Data()

    func append(_ data: Data) { lock.withLock { buffer.append(data) } }
    var text: String { lock.withLock { String(decoding: buffer, as: UTF8.self) } }

    func line(startingWith prefix: String, timeout: Double, while process: Process) async throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) { return String(line) }
            guard process.isRunning else { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        XCTFail("no line starting with '\(prefix)'; output so far:\n\(text)")
        throw CancellationError()
    }
}
