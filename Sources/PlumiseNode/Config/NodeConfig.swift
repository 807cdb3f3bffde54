import Foundation
import PlumiseChain

/// The node's typed configuration, with the names and defaults of DESIGN.md.
///
/// Load it with ``load(envFile:environment:flags:)``: the `.env` file first, then the process
/// environment over it, then explicit command-line values over both. Every value is validated;
/// errors name the setting and the bad value (never the private key's).
public struct NodeConfig: Sendable, Equatable {
    /// The configuration names, as used in the environment, `.env` files and the `flags`
    /// dictionary of the loader.
    public enum Key: String, CaseIterable, Sendable {
        case privateKey = "PLUMISE_PRIVATE_KEY"
        case rpcURL = "PLUMISE_RPC_URL"
        case chainID = "PLUMISE_CHAIN_ID"
        case oracleURL = "ORACLE_API_URL"
        case reportInterval = "REPORT_INTERVAL"
        case modelName = "MODEL_NAME"
        case numBlocks = "NUM_BLOCKS"
        case petalsHost = "PETALS_HOST"
        case petalsPort = "PETALS_PORT"
        case apiPort = "API_PORT"
        case agentRegistryAddress = "AGENT_REGISTRY_ADDRESS"
        case rewardPoolAddress = "REWARD_POOL_ADDRESS"
        case claimThresholdWei = "CLAIM_THRESHOLD_WEI"
        case verifyOnChain = "VERIFY_ON_CHAIN"
        case initialPeers = "PETALS_INITIAL_PEERS"
        case announceIP = "PETALS_ANNOUNCE_IP"
        case device = "DEVICE"
        case heartbeatInterval = "HEARTBEAT_INTERVAL"
        case modelID = "MODEL_ID"
        case claimAfterSeconds = "CLAIM_AFTER_SECONDS"
        case publicURL = "PUBLIC_URL"
    }

    /// Smallest accepted REPORT_INTERVAL, in seconds.
    public static let minimumReportInterval = 10

    /// PLUMISE_PRIVATE_KEY: the agent key (required by `serve`, see ``requirePrivateKey()``).
    public var privateKey: PrivateKey?
    /// PLUMISE_RPC_URL: the chain's JSON-RPC endpoint.
    public var rpcURL = "http://localhost:26902"
    /// PLUMISE_CHAIN_ID.
    public var chainID: UInt64 = 41956
    /// ORACLE_API_URL: base URL of the Plumise oracle.
    public var oracleURL = "http://localhost:15481"
    /// REPORT_INTERVAL: seconds between oracle reports (at least 10).
    public var reportInterval = 60
    /// MODEL_NAME: the model file (or name) this node serves.
    public var modelName = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
    /// NUM_BLOCKS: how many transformer blocks to serve; nil means all of them.
    public var numBlocks: Int?
    /// PETALS_HOST: address the shard server listens on.
    public var petalsHost = "0.0.0.0"
    /// PETALS_PORT: shard server port.
    public var petalsPort = 31330
    /// API_PORT: HTTP API port.
    public var apiPort = 31331
    /// AGENT_REGISTRY_ADDRESS: optional 0x address of the agent registry contract.
    public var agentRegistryAddress: String?
    /// REWARD_POOL_ADDRESS: the RewardPool contract.
    public var rewardPoolAddress = "0x0000000000000000000000000000000000001000"
    /// CLAIM_THRESHOLD_WEI: pending reward (decimal wei) from which rewards are claimed.
    public var claimThresholdWei = "1000000000000000000"
    /// VERIFY_ON_CHAIN: also submit each proof to the verifyInference precompile.
    public var verifyOnChain = false
    /// PETALS_INITIAL_PEERS: `host:port` of shard servers to join.
    public var initialPeers: [String] = []
    /// PETALS_ANNOUNCE_IP: the address other nodes should use to reach this one.
    public var announceIP: String?
    /// DEVICE: compute device; only "cpu" exists.
    public var device = "cpu"
    /// HEARTBEAT_INTERVAL: seconds between heartbeats to 0x22 (the network expects 300; shorter
    /// only on a devnet).
    public var heartbeatInterval = 300
    /// MODEL_ID: the model's network id (a Hugging Face id such as "Qwen/Qwen3-32B"), hashed into
    /// proofs and the registration and announced to the oracle; nil derives it from the model
    /// file's metadata (see ModelIdentity).
    public var modelID: String?
    /// PUBLIC_URL: the http(s) URL at which the gateway and other nodes reach this node's HTTP API
    /// (e.g. https://node.example.com); nil builds it from PETALS_ANNOUNCE_IP and API_PORT.
    public var publicURL: String?
    /// CLAIM_AFTER_SECONDS: how long a pending reward waits for the oracle's hourly sponsored
    /// claim before the node claims it itself through 0x23 (0: at once).
    public var claimAfterSeconds = Int(RewardClaimer.defaultClaimAfter)

    public init() {}

    /// Returns the agent key, or throws ``ConfigError/missingPrivateKey`` with a message saying
    /// where to set it.
    public func requirePrivateKey() throws -> PrivateKey {
        guard let privateKey else { throw ConfigError.missingPrivateKey }
        return privateKey
    }

    /// Loads the configuration.
    ///
    /// - Parameters:
    ///   - envFile: path of a `.env` file that must exist; nil reads `.env` in the current
    ///     directory when there is one.
    ///   - environment: the process environment (only the names of ``Key`` are read).
    ///   - flags: explicit command-line values keyed by setting name (e.g. `"API_PORT"`); they
    ///     override the environment and the file.
    /// An empty value counts as not given at that level.
    public static func load(envFile: String? = nil,
                            environment: [String: String] = ProcessInfo.processInfo.environment,
                            flags: [String: String] = [:]) throws -> NodeConfig {
        var fileValues: [String: String] = [:]
        if let envFile {
            fileValues = try EnvFile.load(path: envFile)
        } else if FileManager.default.fileExists(atPath: ".env") {
            fileValues = try EnvFile.load(path: ".env")
        }
        for name in flags.keys where Key(rawValue: name) == nil {
            throw ConfigError.unknownSetting(name)
        }
        var merged: [Key: String] = [:]
        for layer in [fileValues, environment, flags] {
            for key in Key.allCases {
                if let value = layer[key.rawValue], !value.isEmpty { merged[key] = value }
            }
        }
        return try NodeConfig(values: merged)
    }

    /// Builds a configuration from raw values (defaults for the missing ones) and validates it.
    public init(values: [Key: String]) throws {
        for (key, raw) in values {
            let value = raw.trimmingCharacters(in: .whitespaces)
            try apply(key, value)
        }
    }

    private mutating func apply(_ key: Key, _ value: String) throws {
        func invalid(_ reason: String) -> ConfigError {
            .invalidValue(setting: key.rawValue, value: key == .privateKey ? "<redacted>" : value, reason: reason)
        }
        func integer() throws -> Int {
            guard let number = Int(value) else { throw invalid("not an integer") }
            return number
        }
        func port() throws -> Int {
            let number = try integer()
            guard (0...65535).contains(number) else { throw invalid("port must be in 0...65535 (0: any free port)") }
            return number
        }
        func url() throws -> String {
            guard let url = URL(string: value), let scheme = url.scheme?.lowercased(),
                  scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty
            else { throw invalid("expected an http:// or https:// URL") }
            return value
        }
        func address() throws -> String {
            guard Self.isAddress(value) else { throw invalid("expected a 0x-prefixed 20-byte hex address") }
            return value
        }

        switch key {
        case .privateKey:
            guard let parsed = PrivateKey(hex: value) else {
                throw invalid("expected 32 bytes as 64 hex digits, with or without 0x")
            }
            privateKey = parsed
        case .rpcURL: rpcURL = try url()
        case .chainID:
            guard let id = UInt64(value), id > 0 else { throw invalid("expected a positive integer") }
            chainID = id
        case .oracleURL: oracleURL = try url()
        case .reportInterval:
            let seconds = try integer()
            guard seconds >= Self.minimumReportInterval else {
                throw invalid("must be at least \(Self.minimumReportInterval) seconds")
            }
            reportInterval = seconds
        case .modelName: modelName = value
        case .numBlocks:
            let count = try integer()
            guard count >= 1 else { throw invalid("must be at least 1") }
            numBlocks = count
        case .petalsHost: petalsHost = value
        case .petalsPort: petalsPort = try port()
        case .apiPort: apiPort = try port()
        case .agentRegistryAddress: agentRegistryAddress = try address()
        case .rewardPoolAddress: rewardPoolAddress = try address()
        case .claimThresholdWei:
            guard value.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw invalid("expected a non-negative decimal integer (wei)")
            }
            claimThresholdWei = value
        case .verifyOnChain:
            switch value.lowercased() {
            case "true", "1", "yes": verifyOnChain = true
            case "false", "0", "no": verifyOnChain = false
            default: throw invalid("expected true/false, 1/0 or yes/no")
            }
        case .initialPeers:
            initialPeers = try value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
                .map { peer in
                    guard Self.isPeerAddress(peer) else {
                        throw invalid("peer '\(peer)' is not host:port, tcp://host:port, tls://host:port or unix:///path")
                    }
                    return peer
                }
        case .announceIP: announceIP = value
        case .device:
            guard value.lowercased() == "cpu" else { throw invalid("only 'cpu' is supported") }
            device = "cpu"
        case .modelID:
            guard !value.contains(where: \.isWhitespace) else { throw invalid("a model id has no spaces (e.g. Qwen/Qwen3-32B)") }
            modelID = value
        case .publicURL: publicURL = try url()
        case .claimAfterSeconds:
            let seconds = try integer()
            guard seconds >= 0 else { throw invalid("must be at least 0 seconds") }
            claimAfterSeconds = seconds
        case .heartbeatInterval:
            let seconds = try integer()
            guard seconds >= 1 else { throw invalid("must be at least 1 second") }
            heartbeatInterval = seconds
        }
    }

    /// True for `0x` followed by 40 hex digits.
    public static func isAddress(_ text: String) -> Bool {
        guard text.hasPrefix("0x") || text.hasPrefix("0X") else { return false }
        let digits = text.dropFirst(2)
        return digits.count == 40 && digits.allSatisfy(\.isHexDigit)
    }

    /// True for `host:port` (or `[v6]:port`, optionally behind tcp:// or tls://) with a port in
    /// 1...65535, or `unix://` followed by a socket path.
    static func isPeerAddress(_ text: String) -> Bool {
        var rest = Substring(text)
        if let scheme = text.range(of: "://") {
            switch text[..<scheme.lowerBound].lowercased() {
            case "unix": return text[scheme.upperBound...].hasPrefix("/")
            case "tcp", "tls": rest = text[scheme.upperBound...]
            default: return false
            }
        }
        if let options = rest.firstIndex(of: "?") { rest = rest[..<options] }
        guard let colon = rest.lastIndex(of: ":") else { return false }
        let host = rest[..<colon]
        guard !host.isEmpty, !host.contains(where: \.isWhitespace),
              let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port)
        else { return false }
        return true
    }
}
