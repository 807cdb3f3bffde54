import ArgumentParser
import Foundation
import PlumiseChain
import PlumiseNode

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show this agent's state on the Plumise chain: balance, registration, rewards.",
        discussion: "Exits with status 1 when the chain cannot be reached.")

    @Option(name: .customLong("env-file"), help: "Settings file (default: .env when present).")
    var envFile: String?

    @Option(name: .customLong("private-key"), help: "Agent key (default: PLUMISE_PRIVATE_KEY).")
    var privateKey: String?

    @Option(name: .customLong("rpc-url"), help: "Chain JSON-RPC URL (default: PLUMISE_RPC_URL or http://localhost:26902).")
    var rpcURL: String?

    @Option(name: .customLong("timeout"), help: "Seconds to wait for each chain request.")
    var timeout: Double = 5

    func run() async throws {
        var flags: [String: String] = [:]
        if let privateKey { flags[NodeConfig.Key.privateKey.rawValue] = privateKey }
        if let rpcURL { flags[NodeConfig.Key.rpcURL.rawValue] = rpcURL }
        let config = try NodeConfig.load(envFile: envFile, flags: flags)
        let wallet = try Wallet(privateKey: try config.requirePrivateKey().hex)
        let status = await NodeStatus.gather(
            wallet: wallet, rpc: ChainRPC(url: config.rpcURL, timeoutSeconds: timeout),
            rewardPool: try Address(config.rewardPoolAddress), chainID: Int(config.chainID))
        status.lines.forEach { print($0) }
        if !status.online { throw ExitCode(1) }
    }
}
