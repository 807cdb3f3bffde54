import Foundation
import Hummingbird
import Logging
import PlumiseChain
import ServiceLifecycle
import UnixSignals

/// Where and how `plumise-petals devnet` runs.
public struct DevnetOptions: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port.
    public var chainPort = 26902
    public var oraclePort = 15481
    /// Holds chain.sqlite and oracle.sqlite; created when missing.
    public var dataDirectory = ".devnet"
    /// RewardPool epoch length and the oracle's reporting period.
    public var epochSeconds = 60
    /// Seconds between the oracle's sponsored reward claims (plumise-oracle: hourly) and
    /// sponsored heartbeats (every 5 minutes).
    public var sponsoredClaimSeconds = 3600
    public var sponsoredHeartbeatSeconds = 300
    /// How many dev accounts genesis funds.
    public var accountCount = DevAccounts.defaultCount
    /// Unix seconds now (tests substitute their own).
    public var clock: @Sendable () -> Int = { Int(Date().timeIntervalSince1970) }

    public init() {}
}

/// The URLs of a running devnet.
public struct DevnetEndpoints: Sendable, Equatable {
    public let chainURL: String
    public let oracleURL: String
}

/// A local Plumise chain and oracle in one process: the dev chain's JSON-RPC server, the dev
/// oracle's HTTP API, and the oracle's epoch job that feeds the chain's RewardPool. State lives
/// in two SQLite files under the data directory, so a restart keeps it.
public final class Devnet: Sendable {
    public let options: DevnetOptions
    public let chain: DevChainState
    public let oracleStore: DevOracleStore
    public let accounts: [DevAccount]
    private let logger: Logger
    private let running = RunningGroup()

    public init(options: DevnetOptions = DevnetOptions(), logger: Logger = Logger(label: "plumise.devnet")) throws {
        self.options = options
        self.logger = logger
        try FileManager.default.createDirectory(atPath: options.dataDirectory, withIntermediateDirectories: true)
        accounts = DevAccounts.accounts(count: options.accountCount)
        var config = DevChainConfig()
        config.fundedAccounts = accounts.map(\.address) + [DevAccounts.oracle.address]
        config.epochSeconds = options.epochSeconds
        config.clock = options.clock
        chain = try DevChainState(path: options.dataDirectory + "/chain.sqlite", config: config)
        oracleStore = try DevOracleStore(path: options.dataDirectory + "/oracle.sqlite")
    }

    /// Closes both databases (after `run` returned).
    public func close() throws {
        try chain.close()
        try oracleStore.close()
    }

    /// Stops a running devnet gracefully: the servers finish their requests, then `run` returns.
    public func shutdown() async { await running.shutdown() }

    /// Serves until ``shutdown()``, cancellation or, with `signals`, one of them; calls
    /// `onReady` (which must return promptly) once both servers listen.
    public func run(signals: [UnixSignal] = [], onReady: @escaping @Sendable (DevnetEndpoints) async -> Void = { _ in }) async throws {
        let host = options.host, clock = options.clock, chainID = chain.config.chainID
        let ports = ReadyPorts(host: host, onReady: onReady)
        let chainApp = DevChainRPCServer(rpc: DevChainRPC(state: chain)).makeApplication(host: host, port: options.chainPort) {
            await ports.chainListening($0)
        }
        // The oracle asks the chain over JSON-RPC, as plumise-oracle asks the real one.
        let oracleChain = OracleChain(chainURL: { try await ports.chainURL() }, chainID: chainID)
        let verifier = ReportVerifier(clock: clock) { agent in await oracleChain.isAgent(agent) }
        var oracle = DevOracleServer(store: oracleStore, verifier: verifier, chain: oracleChain, logger: logger)
        let chainState = chain
        oracle.epochAt = { now in (try? chainState.epoch(at: now)) ?? 0 }
        let oracleApp = oracle.makeApplication(host: host, port: options.oraclePort) {
            await ports.oracleListening($0)
        }
        let epochs = EpochService(store: oracleStore, ports: ports, chainID: chainID, interval: Double(options.epochSeconds),
                                  logger: logger)
        let jobs = OracleSponsorJobs(store: oracleStore, chain: oracleChain, clock: clock, logger: logger)
        let claims = RepeatingJob(interval: Double(options.sponsoredClaimSeconds)) { _ = await jobs.claimRewards() }
        let beats = RepeatingJob(interval: Double(options.sponsoredHeartbeatSeconds)) { await jobs.beat() }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: chainApp), .init(service: oracleApp), .init(service: epochs), .init(service: claims),
                       .init(service: beats)],
            gracefulShutdownSignals: signals, logger: logger))
        await running.started(group)
        try await group.run()
    }
}

/// The service group of `run`, for ``Devnet/shutdown()`` (which may come before it starts).
private actor RunningGroup {
    private var group: ServiceGroup?
    private var stopRequested = false

    func started(_ group: ServiceGroup) async {
        self.group = group
        if stopRequested { await group.triggerGracefulShutdown() }
    }

    func shutdown() async {
        stopRequested = true
        await group?.triggerGracefulShutdown()
    }
}

/// The oracle's epoch job as a lifecycle service, started once the chain listens.
private struct EpochService: Service {
    let store: DevOracleStore
    let ports: ReadyPorts
    let chainID: Int
    let interval: Double
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            guard let url = try? await ports.chainURL() else { return } // cancelled before the chain listened
            let agent = ChainAgent(rpc: ChainRPC(url: url), wallet: DevAccounts.oracle.wallet, chainID: chainID)
            await EpochReporter(store: store, agent: agent, interval: interval, logger: logger).run()
        }
    }
}

/// A job run every `interval` seconds until graceful shutdown.
private struct RepeatingJob: Service {
    let interval: Double
    let body: @Sendable () async -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await Task.sleep(nanoseconds: UInt64(interval * 1e9)) } catch { return }
                await body()
            }
        }
    }
}

/// The bound ports of the two servers: hands out the chain URL once known and reports
/// readiness once both listen.
private actor ReadyPorts {
    let host: String
    let onReady: @Sendable (DevnetEndpoints) async -> Void
    private var chainPort: Int?
    private var oraclePort: Int?

    init(host: String, onReady: @escaping @Sendable (DevnetEndpoints) async -> Void) {
        self.host = host
        self.onReady = onReady
    }

    private func url(_ port: Int) -> String { "http://\(host):\(port)" }

    func chainListening(_ port: Int) async {
        chainPort = port
        await reportIfReady()
    }

    func oracleListening(_ port: Int) async {
        oraclePort = port
        await reportIfReady()
    }

    /// The chain's URL once it listens. Polls, so that cancellation (the chain failed to bind,
    /// the devnet stops) ends the wait.
    func chainURL() async throws -> String {
        while true {
            if let chainPort { return url(chainPort) }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    private func reportIfReady() async {
        guard let chainPort, let oraclePort else { return }
        await onReady(DevnetEndpoints(chainURL: url(chainPort), oracleURL: url(oraclePort)))
    }
}
