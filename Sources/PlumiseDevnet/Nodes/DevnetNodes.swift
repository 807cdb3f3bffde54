import Foundation
import Logging
import PlumiseChain

/// One node `plumise-petals devnet --with-nodes` runs: a dev account, its blocks and ports.
public struct DevnetNodePlan: Sendable, Equatable {
    public let index: Int
    public let privateKey: String
    public let address: Address
    public let blocks: Range<Int>
    public let petalsPort: Int
    public let apiPort: Int

    public var shardAddress: String { "127.0.0.1:\(petalsPort)" }
    public var apiURL: String { "http://127.0.0.1:\(apiPort)" }
}

/// Starts `serve` child processes against a devnet. Each node gets its share of the model's
/// blocks by the oracle's own split (``Topology/split(totalLayers:weights:)`` over the memory
/// each announces), runs as `serve --watch-pid <devnet>` (so it dies with the devnet), and
/// announces itself as a real node does: on chain, then to the oracle (node registration,
/// pipeline registration, ready once loaded).
public struct DevnetNodeLauncher: Sendable {
    /// The plumise-petals executable.
    public var executable: String
    public var pluginsDirectory: String?
    public var model: String
    public var totalLayers: Int
    public var endpoints: DevnetEndpoints
    public var logDirectory: String
    public var reportInterval = 10
    public var heartbeatInterval = 60
    public var rewardCheckInterval = 30
    public var threads = 1
    /// Memory each node announces (MB); equal shares of this machine by default.
    public var memoryMb: Int

    public init(executable: String, pluginsDirectory: String?, model: String, totalLayers: Int, endpoints: DevnetEndpoints,
                logDirectory: String, memoryMb: Int) {
        self.executable = executable
        self.pluginsDirectory = pluginsDirectory
        self.model = model
        self.totalLayers = totalLayers
        self.endpoints = endpoints
        self.logDirectory = logDirectory
        self.memoryMb = memoryMb
    }

    /// The plans of `accounts` in pipeline order: free ports and the oracle's split of the
    /// model's blocks over their announced memory.
    public func plan(accounts: [DevAccount]) throws -> [DevnetNodePlan] {
        var taken = Set<Int>()
        let ranges = Topology.split(totalLayers: totalLayers,
                                    weights: accounts.map { _ in Topology.weight(device: "cpu", ramMb: memoryMb, vramMb: 0) })
        return try zip(accounts, ranges).map { account, blocks in
            let petals = try Self.freshPort(excluding: &taken), api = try Self.freshPort(excluding: &taken)
            return DevnetNodePlan(index: account.index, privateKey: account.privateKey, address: account.address,
                                  blocks: blocks, petalsPort: petals, apiPort: api)
        }
    }

    private static func freshPort(excluding taken: inout Set<Int>) throws -> Int {
        while true {
            let port = try FreePort.pick()
            if taken.insert(port).inserted { return port }
        }
    }

    /// The `serve` arguments of `plan`, given every node of the swarm.
    public func arguments(_ plan: DevnetNodePlan, swarm: [DevnetNodePlan], watchPID: Int32) -> [String] {
        let peers = swarm.filter { $0 != plan }.map(\.shardAddress).joined(separator: ",")
        // The key travels in the environment (not in `ps`); an empty settings file keeps an
        // operator's .env from pointing a dev node elsewhere.
        var arguments = ["serve", "--env-file", settingsFile, "--rpc-url", endpoints.chainURL,
                         "--oracle-url", endpoints.oracleURL, "--model", model,
                         "--blocks", "\(plan.blocks.lowerBound):\(plan.blocks.upperBound)",
                         "--host", "127.0.0.1", "--port", "\(plan.petalsPort)", "--api-port", "\(plan.apiPort)",
                         "--report-interval", "\(reportInterval)", "--heartbeat-interval", "\(heartbeatInterval)",
                         "--reward-check-interval", "\(rewardCheckInterval)", "--threads", "\(threads)",
                         "--announce-ram-mb", "\(memoryMb)",
                         "--watch-pid", "\(watchPID)"]
        if !peers.isEmpty { arguments += ["--peers", peers] }
        if let pluginsDirectory { arguments += ["--plugins-dir", pluginsDirectory] }
        return arguments
    }

    /// Node settings an operator's shell may hold; dev nodes must not inherit them.
    static let nodeSettings: Set<String> = [
        "PLUMISE_PRIVATE_KEY", "PLUMISE_RPC_URL", "PLUMISE_CHAIN_ID", "ORACLE_API_URL", "REPORT_INTERVAL", "MODEL_NAME", "NUM_BLOCKS",
        "PETALS_HOST", "PETALS_PORT", "API_PORT", "AGENT_REGISTRY_ADDRESS", "REWARD_POOL_ADDRESS", "CLAIM_THRESHOLD_WEI",
        "VERIFY_ON_CHAIN", "PETALS_INITIAL_PEERS", "PETALS_ANNOUNCE_IP", "MODEL_ID", "PUBLIC_URL", "CLAIM_AFTER_SECONDS",
    ]

    private var settingsFile: String { logDirectory + "/node.env" }

    /// Starts the node of `plan`; its stderr goes to `<logDirectory>/node-<index>.log`.
    public func launch(_ plan: DevnetNodePlan, swarm: [DevnetNodePlan]) throws -> DevnetNodeProcess {
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        try "# Dev nodes take their settings from the command line and PLUMISE_PRIVATE_KEY.\n"
            .write(toFile: settingsFile, atomically: true, encoding: .utf8)
        let logPath = logDirectory + "/node-\(plan.index).log"
        guard FileManager.default.createFile(atPath: logPath, contents: nil) else {
            throw DevnetNodeProcess.NodeFailure.cannotLog(logPath)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments(plan, swarm: swarm, watchPID: getpid())
        // Only the key from the environment: the rest of the node's settings are the flags.
        var environment = ProcessInfo.processInfo.environment.filter { key, _ in !Self.nodeSettings.contains(key) }
        environment["PLUMISE_PRIVATE_KEY"] = plan.privateKey
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let node = DevnetNodeProcess(plan: plan, process: process, logPath: logPath, output: output.fileHandleForReading)
        try process.run()
        return node
    }

}

/// A running `serve` child: watches its stdout for the "ready" line.
public final class DevnetNodeProcess: @unchecked Sendable {
    public let plan: DevnetNodePlan
    public let process: Process
    public let logPath: String
    private let lock = NSLock()
    private var stdout = ""

    init(plan: DevnetNodePlan, process: Process, logPath: String, output: FileHandle) {
        self.plan = plan
        self.process = process
        self.logPath = logPath
        output.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil; return }
            self?.lock.withLock { self?.stdout += String(decoding: data, as: UTF8.self) }
        }
    }

    public var isRunning: Bool { process.isRunning }

    /// Waits for `ready <shard address> api <port>`; throws when the node exits or times out.
    public func waitUntilReady(timeout: Double) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if lock.withLock({ stdout.split(separator: "\n").contains { $0.hasPrefix("ready ") } }) { return }
            guard process.isRunning else { throw NodeFailure.exited(index: plan.index, status: process.terminationStatus, log: logPath) }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        throw NodeFailure.timedOut(index: plan.index, seconds: timeout, log: logPath)
    }

    /// SIGTERM (a graceful stop: the node sends its final report), then SIGKILL after `grace` seconds.
    public func stop(grace: Double = 15) async {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while process.isRunning && Date() < deadline { try? await Task.sleep(nanoseconds: 100_000_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    public enum NodeFailure: Error, CustomStringConvertible {
        case exited(index: Int, status: Int32, log: String)
        case timedOut(index: Int, seconds: Double, log: String)
        case cannotLog(String)

        public var description: String {
            switch self {
            case .exited(let i, let status, let log): return "node \(i) exited with status \(status) before it was ready; see \(log)"
            case .timedOut(let i, let seconds, let log): return "node \(i) was not ready after \(Int(seconds)) s; see \(log)"
            case .cannotLog(let path): return "cannot create the node log \(path)"
            }
        }
    }
}
