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
    /// Set once the chain says this agent is registered: the oracle refuses reports before.
    private let registered = LockedValue(false)
    private let host: PluginHost
    private let blocks: Range<Int>?
    private let threads: Int
    private let limits: ServerLimits
    /// RAM (MB) announced in the oracle's pipeline registration: its layer split weighs it.
    private let announcedRamMb: Int
    private let apiConfiguration: HTTPAPI.Configuration
    private let logger: Logger
    /// Called once the shard server and the HTTP API listen: (shard address, API port).
    private let onReady: @Sendable (String, Int) -> Void

    public static let rewardCheckInterval = 600.0
    /// Seconds between reward checks (shorter on a devnet).
    private let rewardCheckSeconds: Double

    public init(config: NodeConfig, host: PluginHost, blocks: Range<Int>? = nil, threads: Int = 0,
                limits: ServerLimits = ServerLimits(), apiConfiguration: HTTPAPI.Configuration = .init(),
                rewardCheckInterval: Double = NodeRunner.rewardCheckInterval,
                announcedRamMb: Int? = nil, logger: Logger = Logger(label: "plumise.node"),
                onReady: @escaping @Sendable (String, Int) -> Void = { _, _ in }) throws {
        self.config = config
        self.rewardCheckSeconds = rewardCheckInterval
        self.wallet = try Wallet(privateKey: try config.requirePrivateKey().hex)
        self.host = host
        self.blocks = blocks
        self.threads = threads
        self.limits = limits
        self.announcedRamMb = announcedRamMb ?? Int(ProcessInfo.processInfo.physicalMemory >> 20)
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
        // The network names the model by its Hugging Face id (plumise-oracle hashes and routes by
        // it): MODEL_ID, else what the file says of itself, else its display name.
        let modelID = config.modelID ?? description.modelID ?? description.name
        logger.info("model id \(modelID) (MODEL_ID to change), blocks \(range.lowerBound)..<\(range.upperBound) of \(blockCount)")
        if range != 0..<blockCount {
            // This node's own generations reach its blocks through its shard server, one
            // connection each from the node's own address: room for them beside other clients there.
            limits.maxConnectionsPerHost = min(limits.maxConnections,
                                               limits.maxConnectionsPerHost + apiConfiguration.maxConcurrentGenerations)
            logger.info("connections per address raised to \(limits.maxConnectionsPerHost): this node's own generations route through its shard server")
        }

        // 1. The shard server over this node's blocks, loaded inside its service so the HTTP API
        //    already answers (503, "loading") while the weights load.
        let generation = LoadingGenerationService(modelName: modelID)
        let listening = AsyncStream<(String, Int)>.makeStream()
        let ready = ReadyLatch { [onReady] address, port in
            onReady(address, port)
            listening.continuation.yield((address, port))
            listening.continuation.finish()
        }

        // 2. The HTTP API. Proofs and the registration name the model by its id, not the file
        //    path, so every node serving the model agrees on its hash.
        var apiConfiguration = self.apiConfiguration
        apiConfiguration.maxConnections = min(apiConfiguration.maxConnections, budget.api)
        let identity = NodeIdentity(address: wallet.address.description, blocks: range, totalBlocks: blockCount)
        let api = HTTPAPI(service: generation, metrics: metrics, configuration: apiConfiguration, identity: identity,
                          onInference: { [self] prompt, output, tokens in
            await recordProof(model: modelID, prompt: prompt, output: output, tokens: tokens)
        })
        let shardService = ShardServerService { [self, limits] in
            let server = try loadShardServer(range: range, blockCount: blockCount, description: description,
                                             modelID: modelID, limits: limits, generation: generation, queue: api.queue)
            ready.shardAddress(announced(server.address))
            return server
        }

        let app = api.makeApplication(host: config.petalsHost, port: config.apiPort) { [self] port in
            logger.info("HTTP API on \(config.petalsHost):\(port)")
            ready.apiPort(port)
        }

        // 3. Chain and oracle loops.
        let name = ChainAgent.defaultName(modelName: config.modelName, address: wallet.address)
        let modelHash = Keccak.hash256(modelID)
        let registration = PeriodicService(name: "registration", interval: 30, runAtStart: true, logger: logger) { [self] in
            try await registerOnce(name: name, modelHash: modelHash)
            throw CancellationError() // registered: this loop is done
        }
        let heartbeat = PeriodicService(name: "heartbeat", interval: Double(config.heartbeatInterval), runAtStart: false, logger: logger) { [self] in
            _ = try await agent.heartbeat()
            logger.info("heartbeat sent")
        }
        let threshold = BigUInt(config.claimThresholdWei) ?? BigUInt(10).power(18)
        let claimer = RewardClaimer(tracker: RewardTracker(agent: agent, pool: try Address(config.rewardPoolAddress)),
                                    threshold: threshold, claimAfter: TimeInterval(config.claimAfterSeconds))
        let rewardLoop = PeriodicService(name: "reward check", interval: rewardCheckSeconds, runAtStart: false, logger: logger) { [self] in
            switch try await claimer.check() {
            case .nothingPending: logger.debug("no pending reward")
            case .belowThreshold(let pending): logger.info("pending reward \(PLM.format(pending)) (below CLAIM_THRESHOLD_WEI)")
            case .waitingForSponsor(let pending, let waited):
                logger.info("pending reward \(PLM.format(pending)) for \(Int(waited)) s: left to the oracle's sponsored claim until \(config.claimAfterSeconds) s")
            case .noBalance(let pending, let balance):
                logger.info("pending reward \(PLM.format(pending)); balance \(PLM.format(balance)) cannot pay a claim's gas: the oracle's sponsored claim will")
            case .skippedAfterRevert(let pending):
                logger.debug("pending reward \(PLM.format(pending)): not claiming again after a reverted claim of the same amount")
            case .claimed(let amount, let receipt): logger.info("claimed \(PLM.format(amount)) through 0x23 in block \(receipt.blockNumber)")
            }
        }
        let reporter = ReporterService(reporter: OracleReporter(
            oracleURL: config.oracleURL, wallet: wallet, metrics: metrics, interval: Double(config.reportInterval),
            logger: logger, isRegistered: { [registered] in registered.current }))
        // 4. Discovery: the oracle lists the node (and its pipeline entry) once it serves.
        let announcer = OracleAnnouncer(oracleURL: config.oracleURL, wallet: wallet, modelID: modelID, ramMb: announcedRamMb,
                                        logger: logger)
        let announce = AnnouncerService { [self] in
            for await (shard, port) in listening.stream {
                await announcer.run(endpoints(shardAddress: shard, apiPort: port))
            }
        }
        // Shutdown runs this list backwards, each service ending before the next is told: the
        // API drains first (bounded by its grace), so the final report still carries the proofs
        // of the generations that finished; the shard server, which a split node's generations
        // go through, closes last.
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: shardService),
                .init(service: reporter),
                .init(service: rewardLoop), .init(service: heartbeat),
                .init(service: registration, successTerminationBehavior: .ignore),
                .init(service: announce),
                .init(service: APIService(app: app, api: api)),
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
    /// local shard when it holds every block, else over a route through its peers. The shard's
    /// one scheduler batches the steps of remote clients and of this node's own generations.
    private func loadShardServer(range: Range<Int>, blockCount: Int, description: ModelDescription, modelID: String,
                                 limits: ServerLimits, generation: LoadingGenerationService,
                                 queue: GenerationQueue) throws -> ShardServer {
        let pool = ComputePool(threads: threads)
        let shard = try ModelLoadProgress.around(config.modelName, report: { [logger] in logger.info("\($0)") }) {
            try ModelShard(model: try host.openModel(path: config.modelName, blocks: range), pool: pool,
                           cacheTokens: limits.cacheTokenBudget)
        }
        let scheduler = StepScheduler(shard: shard)
        queue.setSchedulerStatistics { [scheduler] in [scheduler.stats] }
        let server = ShardServer(shard: shard, transport: try host.transport(named: "tcp"),
                                 listenAddress: "\(config.petalsHost):\(config.petalsPort)", limits: limits,
                                 scheduler: scheduler)
        try server.start()
        let bytesPerToken = 2 * range.count * shard.hp.kvDim * shard.cachePrecision.bytesPerElement // keys and values
        metrics.setGaugeSource { [limits] in
            (server.info.openSessions, shard.cachePool.bytesInUse, limits.cacheTokenBudget * bytesPerToken)
        }
        let backend: InferenceBackend
        if range == 0..<blockCount {
            backend = try LocalPipeline(shards: [shard], schedulers: [scheduler])
        } else {
            let peers = try ([announced(server.address)] + config.initialPeers).map(PeerAddress.init(parsing:))
            backend = try RemoteBackend(host: host, modelPath: config.modelName,
                                        directory: SwarmDirectory(peers: peers, host: host), pool: pool)
        }
        generation.finishLoading(try BackendGenerationService(
            modelName: modelID, tokenizer: try BPETokenizer(description.tokenizer), backend: backend,
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
        // An agent without PLM cannot pay for 0x21: the oracle sponsors its registration when
        // the node registers with it (plumise-oracle nodes.service.ts), so wait for that.
        if !(try await rpc.isAgentAccount(wallet.address)) {
            let cost = try await rpc.gasPrice() * BigUInt(PlumiseAddresses.registerGas)
            let balance = try await rpc.balance(of: wallet.address)
            guard balance >= cost else {
                throw RegistrationPending.noGas(balance: balance, needed: cost)
            }
        }
        switch try await agent.register(name: name, modelHash: modelHash, capabilities: [Keccak.hash256("text-generation")]) {
        case .alreadyRegistered: logger.info("already registered as an agent")
        case .registered(let receipt): logger.info("registered as '\(name)' in block \(receipt.blockNumber)")
        }
        registered.update { $0 = true }
    }

    /// The proof of one inference, buffered for the next report (and sent to 0x20 when enabled).
    func recordProof(model: String, prompt: String, output: String, tokens: Int) async {
        // A generation that ended at once made nothing to prove, and the oracle refuses a proof
        // of 0 tokens (InferenceProofDto: @Min(1)).
        guard tokens >= 1 else {
            logger.debug("no proof for a generation of 0 tokens")
            return
        }
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

    /// What the oracle is told: PUBLIC_URL (else http://<announced host>:<API port>) and the
    /// shard server's host and port as an http URL.
    func endpoints(shardAddress: String, apiPort: Int) -> OracleAnnouncer.Endpoints {
        let shard = announced(shardAddress)
        let location = (try? PeerAddress(parsing: shard))?.location ?? shard
        let host = location.lastIndex(of: ":").map { String(location[..<$0]) } ?? location
        return OracleAnnouncer.Endpoints(publicURL: config.publicURL ?? "http://\(host):\(apiPort)", shardURL: "http://\(location)")
    }

    /// The address peers should use: PETALS_ANNOUNCE_IP instead of a wildcard listen host.
    private func announced(_ address: String) -> String {
        guard let parsed = try? PeerAddress(parsing: address), let colon = parsed.location.lastIndex(of: ":") else { return address }
        let host = String(parsed.location[..<colon]), port = parsed.location[parsed.location.index(after: colon)...]
        let visible = config.announceIP ?? (["0.0.0.0", "::", "[::]"].contains(host) ? "127.0.0.1" : host)
        return "\(parsed.transport)://\(visible):\(port)"
    }
}

/// Why registration waits (retried by its loop).
enum RegistrationPending: Error, CustomStringConvertible {
    case noGas(balance: BigUInt, needed: BigUInt)

    var description: String {
        switch self {
        case .noGas(let balance, let needed):
            return "balance \(PLM.format(balance)) cannot pay agentRegister's gas (\(PLM.format(needed))): waiting for the oracle's sponsored registration"
        }
    }
}
