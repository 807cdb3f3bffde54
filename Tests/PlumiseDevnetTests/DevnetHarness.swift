import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import PlumiseChain
@testable import PlumiseDevnet
import XCTest

/// The wall clock read once, at creation, moved forward only by the test (epochs, stale
/// timestamps): a test that compares a stored timestamp with `now()` cannot straddle a second.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private let start = Int(Date().timeIntervalSince1970)
    private var offset = 0
    func now() -> Int { lock.withLock { start + offset } }
    func advance(_ seconds: Int) { lock.withLock { offset += seconds } }
}

/// A whole devnet in this process on ephemeral ports, its state in a temporary directory.
final class DevnetHarness: @unchecked Sendable {
    let directory: String
    let clock: TestClock
    let devnet: Devnet
    let endpoints: DevnetEndpoints
    private let task: Task<Void, Error>

    /// Epochs are long by default so the background epoch job stays out of the way; tests run
    /// rounds themselves.
    static func start(directory: String? = nil, clock: TestClock = TestClock(), epochSeconds: Int = 3600) async throws -> DevnetHarness {
        let dir = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("devnet-\(UUID().uuidString)").path
        var options = DevnetOptions()
        options.chainPort = 0
        options.oraclePort = 0
        options.dataDirectory = dir
        options.epochSeconds = epochSeconds
        options.clock = { clock.now() }
        let devnet = try Devnet(options: options)
        let ready = AsyncStream<DevnetEndpoints>.makeStream()
        let task = Task { try await devnet.run { ready.continuation.yield($0) } }
        var endpoints: DevnetEndpoints?
        for await e in ready.stream { endpoints = e; break }
        return DevnetHarness(directory: dir, clock: clock, devnet: devnet, endpoints: try XCTUnwrap(endpoints), task: task)
    }

    private init(directory: String, clock: TestClock, devnet: Devnet, endpoints: DevnetEndpoints, task: Task<Void, Error>) {
        self.directory = directory
        self.clock = clock
        self.devnet = devnet
        self.endpoints = endpoints
        self.task = task
    }

    /// Stops the servers and closes the databases (the files stay for a restart).
    func stop() async {
        await devnet.shutdown()
        _ = await task.result
        try? devnet.close()
    }

    func removeFiles() { try? FileManager.default.removeItem(atPath: directory) }

    var rpc: ChainRPC { ChainRPC(url: endpoints.chainURL, timeoutSeconds: 10) }

    func agent(_ wallet: Wallet) -> ChainAgent {
        var agent = ChainAgent(rpc: rpc, wallet: wallet)
        agent.receiptTimeout = 10
        agent.pollInterval = 0.05
        return agent
    }

    func agent(_ account: DevAccount) -> ChainAgent { agent(account.wallet) }

    /// Registers `account` through 0x21 with the client's own payload.
    @discardableResult
    func register(_ account: DevAccount, name: String = "test-agent") async throws -> TransactionReceipt? {
        let outcome = try await agent(account).register(name: name, modelHash: Keccak.hash256("model"),
                                                         capabilities: [Keccak.hash256("text-generation")])
        if case .registered(let receipt) = outcome { return receipt }
        return nil
    }

    func receipt(_ hash: String) async throws -> JSONValue {
        try await rpc.client.call("eth_getTransactionReceipt", [.string(hash)])
    }

    func sponsorJobs() -> OracleSponsorJobs {
        let url = endpoints.chainURL
        return OracleSponsorJobs(store: devnet.oracleStore, chain: OracleChain(chainURL: { url }, chainID: PlumiseAddresses.chainID),
                                 clock: { [clock] in clock.now() })
    }

    func epochReporter() -> EpochReporter {
        EpochReporter(store: devnet.oracleStore, agent: agent(DevAccounts.oracle), interval: 3600)
    }
}

/// Plain HTTP for the oracle's endpoints (the node has no client for most of them).
enum HTTP {
    static func request(_ method: String, _ url: String, json body: Data? = nil) async throws -> (status: Int, body: JSONValue) {
        var request = HTTPClientRequest(url: url)
        request.method = .init(rawValue: method)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let data = Data(buffer: try await response.body.collect(upTo: 4 << 20))
        let value = (try? JSONDecoder().decode(JSONValue.self, from: data)) ?? .string(String(decoding: data, as: UTF8.self))
        return (Int(response.status.code), value)
    }

    static func post<T: Encodable>(_ url: String, _ body: T) async throws -> (status: Int, body: JSONValue) {
        try await request("POST", url, json: try JSONEncoder().encode(body))
    }

    static func get(_ url: String) async throws -> (status: Int, body: JSONValue) { try await request("GET", url) }
}

extension JSONValue {
    var number: Double? { if case .number(let n) = self { return n } else { return nil } }
    var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
}
