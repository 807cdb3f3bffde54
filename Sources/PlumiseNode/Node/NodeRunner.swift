import BigInt
import Foundation
import Hummingbird
import Logging
import PetalsModel
import PetalsSwarm
import PlumiseChain
import PluginAPI
import ServiceLifecycle
import UnixSignals

/// The whole node of the seed: a shard server, the HTTP API, chain registration, heartbeats,
/// reward claims and oracle reports, started in the seed's order and stopped gracefully on
/// SIGINT/SIGTERM (swift-service-lifecycle).
public final class NodeRunner: @unchecked Sendable {
    public let config: NodeConfig
    public let wallet: Wallet
    public let metrics = MetricsCollector()
    private let host: PluginHost
    private let blocks: Range<Int>?
    private let threads: Int
    private let limits: ServerLimits
    private let apiConfiguration: HTTPAPI.Configuration
    private let logger: Logger
    /// Called once the shard server and the HTTP API listen: (shard address, API port).
    private let onReady: @Sendable (String, Int) -> Void

    public static let rewardCheckInterval = 600.0
    /// Seconds between reward checks (shorter on a devnet).
    private let rewardCheckSeconds: Double

    public init(config: NodeConfig, host: PluginHost, blocks: Range<Int>? = nil, threads: Int = 0,
                limits: ServerLimits = ServerLimits(), apiConfiguration: HTTPAPI.Configuration = .init(),
                rewardCheckInterval: Double = NodeRunner.rewardCheckInterval, logger: Logger = Logger(label: "plumise.node"),
                onReady: @escaping @Sendable (String, Int) -> Void = { _, _ in }) throws {
        self.config = config
        self.rewardCheckSeconds = rewardCheckInterval
        self.wallet = try Wallet(privateKey: try config.requirePrivateKey().hex)
        self.host = host
        self.blocks = blocks
        self.threads = threads
        self.limits = limits
        self.apiConfiguration = apiConfiguration
        self.logger = logger
        self.onReady = onReady
    }

    private var rpc: ChainRPC { ChainRPC(url: config.rpcURL, timeoutSeconds: 10) }
    private var agent: ChainAgent { ChainAgent(rpc: rpc, wallet: wallet, chainID: Int(config.chainID)) }

    /// Runs until SIGINT/SIGTERM (or `signals` is empty and the task is cancelled).
    public func run(signals: [UnixSignal] = [.sigterm, .sigint]) async throws {
        // Trap the signals before loading anything: one that arrives while the model loads is
        // kept and still shuts the node down gracefully once its services have started.
        let trapped = signals.isEmpty ? nil : await UnixSignalsSequence(trapping: signals)
        logger.info("agent \(wallet.address), chain \(config.rpcURL), oracle \(config.oracleURL)")
        // Every port before the chain: a taken port must stop the node before it registers.
        try PortCheck.ensureFree(host: config.petalsHost, port: config.petalsPort, what: "shard server",
                                 setting: "PETALS_PORT / --port")
        try PortCheck.ensureFree(host: config.petalsHost, port: config.apiPort, what: "HTTP API",
                                 setting: "API_PORT / --api-port")
        let budget = FileBudget.split(limit: FileBudget.raiseLimit())
        var limits = self.limits
        limits.maxConnections = min(limits.maxConnections, budget.shard)
        limits.maxConnectionsPerHost = min(limits.maxConnectionsPerHost, limits.maxConnections)
        logger.info("connections: shard server up to \(limits.maxConnections) (\(limits.maxConnectionsPerHost) per address), HTTP API up to \(budget.api)")
        await preflight()

        // The description alone is cheap and checks the model file before anything starts.
        let description = try host.openModel(path: config.modelName, blocks: 0..<0).description
        let blockCount = description.blockCount
        let range = blocks ?? 0..<min(config.numBlocks ?? blockCount, blockCount)

        // 1. The shard server over this node's blocks, loaded inside its service so the HTTP API
        //    already answers (503, "loading") while the weights load.
        let generation = LoadingGenerationService(modelName: description.name)
        let ready = ReadyLatch(onReady)
        let shardService = ShardServerService { [self] in
            let server = try loadShardServer(range: range, blockCount: blockCount, description: description,
                                             limits: limits, generation: generation)
            ready.shardAddress(announced(server.address))
            return server
        }

        // 2. The HTTP API. Proofs and the registration name the model by its own name (GGUF
        //    general.name), not the file path, so every node serving the model agrees on its hash.
        var apiConfiguration = self.apiConfiguration
        apiConfiguration.maxConnections = min(apiConfiguration.maxConnections, budget.api)
        let api = HTTPAPI(service: generation, metrics: metrics, configuration: apiConfiguration,
                          onInference: { [self] prompt, output, tokens in
            await recordProof(model: description.name, prompt: prompt, output: output, tokens: tokens)
        })
        let app = api.makeApplication(host: config.petalsHost, port: config.apiPort) { [self] port in
            logger.info("HTTP API on \(config.petalsHost):\(port)")
            ready.apiPort(port)
        }

        // 3. Chain and oracle loops.
        let name = ChainAgent.defaultName(modelName: config.modelName, address: wallet.address)
        let modelHash = Keccak.hash256(description.name)
        let registration = PeriodicService(name: "registration", interval: 30, runAtStart: true, logger: logger) { [self] in
            try await registerOnce(name: name, modelHash: modelHash)
            throw CancellationError() // registered: this loop is done
        }
        let heartbeat = PeriodicService(name: "heartbeat", interval: Double(config.heartbeatInterval), runAtStart: false, logger: logger) { [self] in
            _ = try await agent.heartbeat()
            logger.info("heartbeat sent")
        }
        let threshold = BigUInt(config.claimThresholdWei) ?? BigUInt(10).power(18)
        let rewards = RewardTracker(agent: agent, pool: try Address(config.rewardPoolAddress), claimThreshold: threshold)
        let rewardLoop = PeriodicService(name: "reward check", interval: rewardCheckSeconds, runAtStart: false, logger: logger) { [self] in
            switch try await rewards.claimIfDue() {
            case .belowThreshold(let pending): logger.info("pending reward \(PLM.format(pending))")
            case .claimed(let amount, _): logger.info("claimed \(PLM.format(amount))")
            }
        }
        let reporter = ReporterService(reporter: OracleReporter(oracleURL: config.oracleURL, wallet: wallet, metrics: metrics,
                                                                interval: Double(config.reportInterval), logger: logger))
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: shardService),
                .init(service: app),
                .init(service: registration, successTerminationBehavior: .ignore),
                .init(service: heartbeat), .init(service: rewardLoop), .init(service: reporter),
            ],
            logger: logger))
        let watcher = trapped.map { trapped in
            Task { [logger] in
                var caught = 0
                for await signal in trapped {
                    caught += 1
                    if caught == 1 {
                        logger.info("\(signal): shutting down (final report, sessions closed); again to force")
                        await group.triggerGracefulShutdown()
                    } else {
                        logger.warning("\(signal) again: exiting at once")
                        exit(130)
                    }
                }
            }
        }
        defer { watcher?.cancel() }
        try await group.run()
        logger.info("node stopped")
    }

    /// Loads this node's blocks, starts serving them, and hands generation to the API: over the
    /// local shard when it holds every block, else over a route through its peers.
    private func loadShardServer(range: Range<Int>, blockCount: Int, description: ModelDescription,
                                 limits: ServerLimits, generation: LoadingGenerationService) throws -> ShardServer {
        let pool = ComputePool(threads: threads)
        let shard = try ModelLoadProgress.around(config.modelName, report: { [logger] in logger.info("\($0)") }) {
            try ModelShard(model: try host.openModel(path: config.modelName, blocks: range), pool: pool)
        }
        let server = ShardServer(shard: shard, transport: try host.transport(named: "tcp"),
                                 listenAddress: "\(config.petalsHost):\(config.petalsPort)", limits: limits)
        try server.start()
        let bytesPerToken = 2 * range.count * shard.hp.kvDim * shard.cachePrecision.bytesPerElement // keys and values
        metrics.setGaugeSource { [limits] in
            let info = server.info
            return (info.openSessions, (limits.cacheTokenBudget - info.freeCacheTokens) * bytesPerToken,
                    limits.cacheTokenBudget * bytesPerToken)
        }
        let backend: InferenceBackend
        if range == 0..<blockCount {
            backend = try LocalPipeline(shards: [shard])
        } else {
            let peers = try ([announced(server.address)] + config.initialPeers).map(PeerAddress.init(parsing:))
            backend = try RemoteBackend(host: host, modelPath: config.modelName,
                                        directory: SwarmDirectory(peers: peers, host: host), pool: pool)
        }
        generation.finishLoading(try BackendGenerationService(
            modelName: description.name, tokenizer: try BPETokenizer(description.tokenizer), backend: backend,
            chatTemplate: description.tokenizer.chatTemplate))
        logger.info("model loaded: blocks \(range.lowerBound)..<\(range.upperBound) of \(blockCount)")
        return server
    }

    /// Chain reachable? Balance? Registry entry? Only logged: an offline chain is retried later.
    private func preflight() async {
        // Short timeouts: an unreachable chain must not delay serving.
        let rpc = ChainRPC(url: config.rpcURL, timeoutSeconds: 3)
        do {
            let id = try await rpc.chainID()
            let balance = try await rpc.balance(of: wallet.address)
            logger.info("chain \(id) reachable; balance \(PLM.format(balance))")
            if id != BigUInt(config.chainID) { logger.warning("chain id \(id) differs from PLUMISE_CHAIN_ID \(config.chainID)") }
            if let registryAddress = config.agentRegistryAddress, let registry = try? Address(registryAddress) {
                let registered = try await AgentRegistry(rpc: rpc, address: registry).isRegistered(wallet.address)
                logger.info("agent registry: \(registered ? "registered" : "not registered")")
            }
        } catch {
            logger.warning("chain preflight failed, serving anyway and retrying later: \(error)")
        }
    }

    private func registerOnce(name: String, modelHash: [UInt8]) async throws {
        switch try await agent.register(name: name, modelHash: modelHash, capabilities: [Keccak.hash256("text-generation")]) {
        case .alreadyRegistered: logger.info("already registered as an agent")
        case .registered(let receipt): logger.info("registered as '\(name)' in block \(receipt.blockNumber)")
        }
    }

    /// The proof of one inference, buffered for the next report (and sent to 0x20 when enabled).
    func recordProof(model: String, prompt: String, output: String, tokens: Int) async {
        let proof = InferenceProof(modelName: model, input: prompt, output: output, agent: wallet.address,
                                   tokenCount: tokens)
        metrics.addProof(proof)
        guard config.verifyOnChain else { return }
        let agent = self.agent
        let logger = self.logger
        Task.detached {
            do { _ = try await agent.verifyInference(proof) } catch { logger.warning("verifyInference failed: \(error)") }
        }
    }

    /// The address peers should use: PETALS_ANNOUNCE_IP instead of a wildcard listen host.
    private func announced(_ address: String) -> String {
        guard let parsed = try? PeerAddress(parsing: address), let colon = parsed.location.lastIndex(of: ":") else { return address }
        let host = String(parsed.location[..<colon]), port = parsed.location[parsed.location.index(after: colon)...]
        let visible = config.announceIP ?? (["0.0.0.0", "::", "[::]"].contains(host) ? "127.0.0.1" : host)
        return "\(parsed.transport)://\(visible):\(port)"
    }
}
