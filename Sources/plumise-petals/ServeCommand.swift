import ArgumentParser
import Foundation
import Logging
import PetalsModel
import PetalsSwarm
import PlumiseNode
import PluginAPI

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a Plumise node: serve model blocks, the HTTP API, chain registration, heartbeats and oracle reports.",
        discussion: """
            Settings come from the .env file, then the environment, then these flags (see docs/ARCHITECTURE.md for \
            the names); PLUMISE_PRIVATE_KEY is required. With --shard-only it only serves blocks (no key, chain, \
            oracle or HTTP API). Prints 'ready <address>' on stdout once clients can connect (a full node adds \
            'api <port>'); SIGINT or SIGTERM stops it cleanly.
            """)

    @OptionGroup var plugins: PluginOptions

    @Flag(name: .customLong("shard-only"), help: "Only serve blocks: no key, chain, oracle or HTTP API.")
    var shardOnly = false

    @Option(name: .customLong("env-file"), help: "Settings file (default: .env when present).")
    var envFile: String?

    @Option(name: .customLong("private-key"), help: "Agent key (default: PLUMISE_PRIVATE_KEY).")
    var privateKey: String?

    @Option(name: .customLong("rpc-url"), help: "Chain JSON-RPC URL (PLUMISE_RPC_URL).")
    var rpcURL: String?

    @Option(name: .customLong("oracle-url"), help: "Oracle base URL (ORACLE_API_URL).")
    var oracleURL: String?

    @Option(name: .customLong("api-port"), help: "HTTP API port (API_PORT; 0 picks a free port).")
    var apiPort: Int?

    @Option(name: .customLong("report-interval"), help: "Seconds between oracle reports (REPORT_INTERVAL, at least 10).")
    var reportInterval: Int?

    @Option(name: .customLong("heartbeat-interval"), help: "Seconds between heartbeats (HEARTBEAT_INTERVAL, default 300).")
    var heartbeatInterval: Int?

    @Option(name: .customLong("model"), help: "Model file (MODEL_NAME; default models/SmolLM2-135M-Instruct.Q4_1.gguf).")
    var modelOption: String?

    @Option(name: .customLong("model-id"), help: "The model's network id, e.g. HuggingFaceTB/SmolLM2-135M-Instruct (MODEL_ID; default: from the file's metadata).")
    var modelID: String?

    @Option(name: .customLong("public-url"), help: "http(s) URL at which the gateway reaches this node's API (PUBLIC_URL).")
    var publicURL: String?

    @Option(help: "Blocks to serve, a:b (blocks a ..< b).")
    var blocks: String?

    @Option(name: .customLong("num-blocks"), help: "Serve this many blocks, starting where the --peers cover least.")
    var numBlocks: Int?

    @Option(help: "Comma-separated peers (host:port, tcp://host:port, unix:///path), used by --num-blocks.")
    var peers: String = ""

    @Option(help: "Transport plugin to listen with (tcp, unix).")
    var transport = "tcp"

    @Option(help: "Address to listen on (TCP; PETALS_HOST, default 0.0.0.0).")
    var host: String?

    @Option(help: "Port to listen on (TCP; PETALS_PORT, default 31330; 0 picks a free port).")
    var port: Int?

    @Option(help: "Listen address in the transport's own form (overrides --host/--port), e.g. a socket path for unix.")
    var listen: String?

    @Option(name: .customLong("tls-cert"), help: "PEM certificate: serve over TLS (the tls transport) instead of plain TCP.")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(name: .customLong("max-sessions"), help: "Inference sessions open at once.")
    var maxSessions = ServerLimits().maxSessions

    @Option(name: .customLong("cache-tokens"), help: "KV-cache positions across all sessions (the shard's page pool; each session reserves its length).")
    var cacheTokens = ServerLimits().cacheTokenBudget

    @Option(name: .customLong("max-length"), help: "Positions one session may hold.")
    var maxLength = ServerLimits().maxSessionLength

    @Option(name: .customLong("idle-timeout"), help: "Seconds before an unused session is freed.")
    var idleTimeout = ServerLimits().idleTimeoutSeconds

    @Option(name: .customLong("step-timeout"), help: "Seconds a request may take to arrive once started.")
    var stepTimeout = ServerLimits().stepTimeoutSeconds

    @Option(name: .customLong("api-idle-timeout"),
            help: "Seconds an HTTP connection may take to send its request head, or stay idle between requests.")
    var apiIdleTimeout = HTTPAPI.Configuration().idleTimeoutSeconds

    @Option(name: .customLong("max-generations"),
            help: "HTTP API generations running at once (their steps run as one batch).")
    var maxGenerations = HTTPAPI.Configuration().maxConcurrentGenerations

    @Option(name: .customLong("max-queued-generations"),
            help: "HTTP API generations that may wait for a place; beyond them requests get 503 with Retry-After.")
    var maxQueuedGenerations = HTTPAPI.Configuration().maxQueuedGenerations

    @Option(name: .customLong("shutdown-grace"),
            help: "Seconds running API generations may go on after SIGINT/SIGTERM before they are stopped.")
    var shutdownGrace = HTTPAPI.Configuration().shutdownGraceSeconds

    @Option(name: .customLong("max-connections"), help: "Shard connections open at once (also bounded by the open-file limit).")
    var maxConnections = ServerLimits().maxConnections

    @Option(name: .customLong("max-connections-per-address"), help: "Shard connections open at once from one address.")
    var maxConnectionsPerAddress = ServerLimits().maxConnectionsPerHost

    @Option(help: "Compute threads (0: all CPUs).")
    var threads = 0

    @Option(name: .customLong("reward-check-interval"), help: "Seconds between pending-reward checks (and auto-claims).")
    var rewardCheckInterval = NodeRunner.rewardCheckInterval

    @Option(name: .customLong("announce-ram-mb"), help: "RAM (MB) announced to the oracle's pipeline (default: this machine's).")
    var announceRamMb: Int?

    @Option(name: .customLong("watch-pid"), help: "Stop when process PID exits (scripts and tests pass their own pid).")
    var watchPID: Int32?

    var model: String { modelOption ?? "models/SmolLM2-135M-Instruct.Q4_1.gguf" }

    var serverLimits: ServerLimits {
        ServerLimits(maxSessions: maxSessions, cacheTokenBudget: cacheTokens, maxSessionLength: maxLength,
                     idleTimeoutSeconds: idleTimeout, stepTimeoutSeconds: stepTimeout, maxConnections: maxConnections,
                     maxConnectionsPerHost: maxConnectionsPerAddress)
    }

    func validate() throws {
        if shardOnly {
            guard (blocks == nil) != (numBlocks == nil) else {
                throw ValidationError("give exactly one of --blocks a:b or --num-blocks N")
            }
        } else if blocks != nil && numBlocks != nil {
            throw ValidationError("give at most one of --blocks a:b or --num-blocks N")
        }
        if let numBlocks { guard numBlocks > 0 else { throw ValidationError("--num-blocks must be at least 1") } }
        if let port { guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") } }
        guard maxSessions > 0, cacheTokens > 0, maxLength > 0, maxConnections > 0, maxConnectionsPerAddress > 0 else {
            throw ValidationError("--max-sessions, --cache-tokens, --max-length, --max-connections and "
                                  + "--max-connections-per-address must be positive")
        }
        guard idleTimeout > 0, stepTimeout > 0, apiIdleTimeout > 0 else { throw ValidationError("timeouts must be positive") }
        guard maxGenerations > 0 else { throw ValidationError("--max-generations must be at least 1") }
        guard maxQueuedGenerations >= 0 else { throw ValidationError("--max-queued-generations must be 0 or more") }
        guard shutdownGrace >= 0 else { throw ValidationError("--shutdown-grace must be 0 or more") }
        guard rewardCheckInterval >= 1 else { throw ValidationError("--reward-check-interval must be at least 1 second") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        if tlsCert != nil, !["tcp", "tls"].contains(transport) {
            throw ValidationError("TLS runs over TCP: --tls-cert cannot be combined with --transport \(transport)")
        }
        for file in [tlsCert, tlsKey].compactMap({ $0 }) where !FileManager.default.isReadableFile(atPath: file) {
            throw ValidationError("cannot read \(file)")
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        if !shardOnly { return try await runNode() }
        guard FileManager.default.fileExists(atPath: model) else {
            throw ValidationError("model \(model) does not exist (run scripts/setup.sh to fetch the default model)")
        }
        let host = try plugins.loadHost()
        let range = try chooseBlocks(host: host)
        let pool = ComputePool(threads: threads)
        var limits = serverLimits
        limits.maxConnections = min(limits.maxConnections, FileBudget.split(limit: FileBudget.raiseLimit()).shard)
        let shard = try ModelLoadProgress.around(model, report: { printError($0) }) {
            try ModelShard(model: try host.openModel(path: model, blocks: range), pool: pool,
                           cacheTokens: limits.cacheTokenBudget)
        }
        var transportName = transport
        var address = listen ?? "\(self.host ?? "0.0.0.0"):\(port ?? 31330)"
        if let tlsCert, let tlsKey {
            transportName = "tls"
            address += "?cert=\(tlsCert)&key=\(tlsKey)"
        }
        let server = ShardServer(shard: shard, transport: try host.transport(named: transportName),
                                 listenAddress: address, limits: limits)
        // Catch the signals before announcing readiness, so an early SIGTERM is still graceful.
        let termination = TerminationSignals()
        if let watchPID { termination.watch(process: watchPID) }
        try server.start()
        print("ready \(server.address)")
        fflush(stdout)
        termination.wait()
        server.stop()
    }

    /// The whole node: settings from .env < environment < these flags.
    private func runNode() async throws {
        var flags: [String: String] = [:]
        func set(_ key: NodeConfig.Key, _ value: CustomStringConvertible?) { if let value { flags[key.rawValue] = "\(value)" } }
        set(.privateKey, privateKey)
        set(.rpcURL, rpcURL)
        set(.oracleURL, oracleURL)
        set(.apiPort, apiPort)
        set(.reportInterval, reportInterval)
        set(.heartbeatInterval, heartbeatInterval)
        set(.modelName, modelOption)
        set(.modelID, modelID)
        set(.publicURL, publicURL)
        set(.petalsHost, host)
        set(.petalsPort, port)
        set(.numBlocks, numBlocks)
        if !peers.isEmpty { set(.initialPeers, peers) }
        let config = try NodeConfig.load(envFile: envFile, flags: flags)
        guard FileManager.default.fileExists(atPath: config.modelName) else {
            throw ValidationError("model \(config.modelName) does not exist (run scripts/setup.sh to fetch the default model)")
        }
        let limits = serverLimits
        let runner = try NodeRunner(config: config, host: try plugins.loadHost(), blocks: try blocks.map(BlockRange.parse),
                                    threads: threads, limits: limits,
                                    apiConfiguration: .init(maxConcurrentGenerations: maxGenerations,
                                                            maxQueuedGenerations: maxQueuedGenerations,
                                                            idleTimeoutSeconds: apiIdleTimeout, shutdownGraceSeconds: shutdownGrace),
                                    rewardCheckInterval: rewardCheckInterval, announcedRamMb: announceRamMb) { address, apiPort in
            print("ready \(address) api \(apiPort)")
            fflush(stdout)
        }
        // The node traps SIGINT/SIGTERM itself; the watched process ending becomes a SIGTERM.
        if let watchPID {
            Thread.detachNewThread {
                while TerminationSignals.isAlive(watchPID) { Thread.sleep(forTimeInterval: 0.5) }
                kill(getpid(), SIGTERM)
            }
        }
        try await runner.run()
    }

    /// --blocks as given, or --num-blocks placed at the first block the peers cover least.
    private func chooseBlocks(host: PluginHost) throws -> Range<Int> {
        if let blocks { return try BlockRange.parse(blocks) }
        let description = try host.openModel(path: model, blocks: 0..<0).description
        let count = description.blockCount
        let n = min(numBlocks ?? count, count)
        let directory = SwarmDirectory(peers: try PeerAddress.parseList(peers), host: host)
        let served = directory.candidates(model: description.name, blockCount: count).map(\.blocks)
        return BlockPlacement.choose(count: n, blockCount: count, served: served)
    }
}

/// SIGINT and SIGTERM, caught from creation on; `wait` blocks until one arrives.
final class TerminationSignals {
    private let arrived = DispatchSemaphore(value: 0)
    private var sources: [DispatchSourceSignal] = []

    init() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [arrived] in arrived.signal() }
            source.resume()
            sources.append(source)
        }
    }

    /// Also counts the exit of process `pid` as a termination (checked twice a second).
    func watch(process pid: Int32) {
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now(), repeating: 0.5)
        timer.setEventHandler { [arrived] in
            if !Self.isAlive(pid) { arrived.signal() }
        }
        timer.resume()
        watchdog = timer
    }

    private var watchdog: DispatchSourceTimer?

    /// False once `pid` is gone or a zombie (exited, not yet reaped by its own parent).
    static func isAlive(_ pid: Int32) -> Bool {
        if kill(pid, 0) != 0 && errno == ESRCH { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        // "pid (comm) S ...": the state letter follows the command name.
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first != "Z"
    }

    func wait() {
        arrived.wait()
        watchdog?.cancel()
        sources.forEach { $0.cancel() }
    }
}
