import ArgumentParser
import Foundation
import Logging
import PlumiseChain
import PlumiseDevnet
import UnixSignals

struct DevnetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devnet",
        abstract: "Run a local Plumise chain and oracle (and optionally nodes) for development.",
        discussion: """
            Starts a dev chain (JSON-RPC, chain id 41956, real signature checks and the Plumise precompiles) and a \
            dev oracle (plumise-oracle's API) on 127.0.0.1, prints their URLs and the pre-funded dev keys, and \
            prints 'devnet ready chain <url> oracle <url>' once both listen. State is kept in --data-dir. With \
            --with-nodes N it also starts N nodes that split the model's blocks and prints how to generate. \
            The dev keys are public: never use them on mainnet. SIGINT or SIGTERM stops everything.
            """)

    @OptionGroup var plugins: PluginOptions

    @Option(name: .customLong("chain-port"), help: "Dev chain JSON-RPC port (0 picks a free port).")
    var chainPort = 26902

    @Option(name: .customLong("oracle-port"), help: "Dev oracle HTTP port (0 picks a free port).")
    var oraclePort = 15481

    @Option(name: .customLong("data-dir"), help: "Directory of chain.sqlite and oracle.sqlite.")
    var dataDirectory = ".devnet"

    @Option(name: .customLong("epoch-seconds"), help: "RewardPool epoch length and the oracle's contribution period.")
    var epochSeconds = 60

    @Option(name: .customLong("sponsored-claim-seconds"),
            help: "Seconds between the oracle's sponsored reward claims for active nodes (plumise-oracle: 3600).")
    var sponsoredClaimSeconds = 3600

    @Option(help: "Number of pre-funded dev accounts.")
    var accounts = DevAccounts.defaultCount

    @Option(name: .customLong("with-nodes"), help: "Also start this many nodes splitting the model's blocks.")
    var withNodes = 0

    @Option(help: "Model the nodes serve.")
    var model = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Option(name: .customLong("report-interval"), help: "Seconds between the nodes' oracle reports (at least 10).")
    var reportInterval = 10

    @Option(name: .customLong("heartbeat-interval"), help: "Seconds between the nodes' heartbeats.")
    var heartbeatInterval = 60

    @Option(name: .customLong("node-threads"), help: "Compute threads per node.")
    var nodeThreads = 1

    @Option(name: .customLong("watch-pid"), help: "Stop when process PID exits (scripts pass their own pid).")
    var watchPID: Int32?

    func validate() throws {
        guard (0...65535).contains(chainPort), (0...65535).contains(oraclePort) else { throw ValidationError("ports must be in 0...65535") }
        guard epochSeconds >= 1 else { throw ValidationError("--epoch-seconds must be at least 1") }
        guard sponsoredClaimSeconds >= 1 else { throw ValidationError("--sponsored-claim-seconds must be at least 1") }
        guard accounts >= 1 else { throw ValidationError("--accounts must be at least 1") }
        guard withNodes >= 0, withNodes <= accounts else { throw ValidationError("--with-nodes must be in 0...--accounts") }
        guard reportInterval >= 10 else { throw ValidationError("--report-interval must be at least 10 seconds") }
        guard heartbeatInterval >= 1, nodeThreads >= 1 else { throw ValidationError("--heartbeat-interval and --node-threads must be positive") }
        if withNodes > 0, !FileManager.default.fileExists(atPath: model) {
            throw ValidationError("model \(model) does not exist (run scripts/setup.sh to fetch the default model)")
        }
    }

    /// What ends (or advances) a devnet run.
    private enum Event: Sendable {
        case signal
        case serversEnded(String?)
        case nodesStarted
        case nodesFailed(String)
    }

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        // Trap the signals first: one arriving while nodes start still stops everything cleanly.
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        var options = DevnetOptions()
        options.chainPort = chainPort
        options.oraclePort = oraclePort
        options.dataDirectory = dataDirectory
        options.epochSeconds = epochSeconds
        options.sponsoredClaimSeconds = sponsoredClaimSeconds
        options.accountCount = accounts
        let devnet = try Devnet(options: options)
        defer { try? devnet.close() }

        let events = AsyncStream<Event>.makeStream()
        let nodes = NodeList()
        let signalWatcher = Task {
            var caught = 0
            for await signal in signals {
                caught += 1
                if caught > 1 { printError("devnet: \(signal) again, exiting at once"); Foundation.exit(130) }
                events.continuation.yield(.signal)
            }
        }
        defer { signalWatcher.cancel() }
        // The watched process ending becomes a SIGTERM, handled like the user's own.
        if let watchPID {
            Thread.detachNewThread {
                while TerminationSignals.isAlive(watchPID) { Thread.sleep(forTimeInterval: 0.5) }
                kill(getpid(), SIGTERM)
            }
        }
        let server = Task {
            do {
                try await devnet.run { endpoints in
                    printBanner(devnet: devnet, endpoints: endpoints)
                    // Nodes start in the background: the servers must keep serving meanwhile.
                    Task {
                        do {
                            try await startNodes(devnet: devnet, endpoints: endpoints, into: nodes)
                            events.continuation.yield(.nodesStarted)
                        } catch {
                            events.continuation.yield(.nodesFailed("\(error)"))
                        }
                    }
                }
                events.continuation.yield(.serversEnded(nil))
            } catch {
                events.continuation.yield(.serversEnded("\(error)"))
            }
        }

        var failure: String?
        loop: for await event in events.stream {
            switch event {
            case .nodesStarted: continue
            case .signal: break loop
            case .nodesFailed(let why): failure = "nodes failed to start: \(why)"; break loop
            case .serversEnded(let why): failure = "the servers stopped: \(why ?? "no reason")"; break loop
            }
        }
        let running = nodes.all
        print("devnet: stopping \(running.isEmpty ? "" : "\(running.count) nodes, then ")the chain and the oracle")
        fflush(stdout)
        for node in running { await node.stop() }
        await devnet.shutdown()
        _ = await server.result
        if let failure {
            printError("devnet: \(failure)")
            throw ExitCode(1)
        }
    }

    private func printBanner(devnet: Devnet, endpoints: DevnetEndpoints) {
        print("Plumise devnet (chain id \(devnet.chain.config.chainID)), state in \(dataDirectory)/")
        print("  chain  JSON-RPC  \(endpoints.chainURL)")
        print("  oracle HTTP      \(endpoints.oracleURL)")
        print("  epoch  \(epochSeconds) s, \(PLM.format(devnet.chain.config.epochReward)) per epoch; sponsored claims every \(sponsoredClaimSeconds) s")
        print("Funded dev accounts (\(PLM.format(devnet.chain.config.fundedBalance)) each at genesis).")
        print("WARNING: these keys are public: never use them on mainnet.")
        for account in devnet.accounts {
            print("  [\(account.index)] \(account.address)  \(account.privateKey)")
        }
        print("devnet ready chain \(endpoints.chainURL) oracle \(endpoints.oracleURL)")
        fflush(stdout)
    }

    /// Starts the nodes on their share of the blocks (each announces itself to the chain and the
    /// oracle) and prints how to use them.
    private func startNodes(devnet: Devnet, endpoints: DevnetEndpoints, into nodes: NodeList) async throws {
        guard withNodes > 0 else { return }
        let host = try plugins.loadHost()
        let totalLayers = try host.openModel(path: model, blocks: 0..<0).description.blockCount
        let memoryMb = Int(ProcessInfo.processInfo.physicalMemory >> 20) / withNodes
        var launcher = DevnetNodeLauncher(executable: try Self.executablePath(), pluginsDirectory: host.directory, model: model,
                                          totalLayers: totalLayers, endpoints: endpoints,
                                          logDirectory: dataDirectory + "/nodes", memoryMb: memoryMb)
        launcher.reportInterval = reportInterval
        launcher.heartbeatInterval = heartbeatInterval
        launcher.threads = nodeThreads
        let accounts = Array(devnet.accounts.prefix(withNodes))
        let plans = try launcher.plan(accounts: accounts)
        for plan in plans { nodes.append(try launcher.launch(plan, swarm: plans)) }
        for node in nodes.all {
            try await node.waitUntilReady(timeout: 120)
            let plan = node.plan
            print("node \(plan.index) ready agent \(plan.address) blocks \(plan.blocks.lowerBound):\(plan.blocks.upperBound) "
                  + "shard \(plan.shardAddress) api \(plan.apiURL) log \(node.logPath)")
            fflush(stdout)
        }
        let first = plans[0]
        print("""
            Generate through the swarm:
              curl -s \(first.apiURL)/api/v1/generate -H 'Content-Type: application/json' \\
                -d '{"inputs": "The capital of France is", "parameters": {"max_new_tokens": 32}}'
              \(CommandLine.arguments[0]) generate --model \(model) --peers \(plans.map(\.shardAddress).joined(separator: ",")) \\
                --prompt "The capital of France is"
            Check an agent: \(CommandLine.arguments[0]) status --rpc-url \(endpoints.chainURL) --private-key <its key>
            """)
        fflush(stdout)
    }

    /// This executable, to start `serve` children of the same build.
    static func executablePath() throws -> String {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        guard FileManager.default.isExecutableFile(atPath: path) else { throw ValidationError("cannot find this executable at \(path)") }
        return path
    }
}

/// The nodes started so far, shared between the startup task and the shutdown path.
private final class NodeList: @unchecked Sendable {
    private let lock = NSLock()
    private var nodes: [DevnetNodeProcess] = []
    func append(_ node: DevnetNodeProcess) { lock.withLock { nodes.append(node) } }
    var all: [DevnetNodeProcess] { lock.withLock { nodes } }
}
