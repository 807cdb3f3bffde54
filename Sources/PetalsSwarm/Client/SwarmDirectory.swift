import Foundation
import Logging
import PluginAPI

/// How a client talks to the swarm.
public struct SwarmClientOptions: Sendable {
    /// Activation precision on the wire.
    public var dtype: WireDType = .f32
    public var connectTimeout: Double = 5
    /// Longest wait for one reply (a step of a long prompt included).
    public var requestTimeout: Double = 120
    /// How long a server that failed is left out of routes.
    public var banSeconds: Double = 60
    /// How long a server that refused for lack of room (its connection or session limit) is
    /// left out: long enough to route around it, short enough that a busy server, perhaps the
    /// only one holding some blocks, serves again once it has room.
    public var busySeconds: Double = 1
    /// Route attempts before giving up on a step (each after a backoff).
    public var maxAttempts = 5
    /// First backoff; doubles on every further attempt.
    public var backoffSeconds: Double = 0.2
    /// CA bundle that tls:// servers' certificates must chain to (nil: encrypt without verifying).
    public var tlsCA: String?

    public init() {}
}

/// The servers a client knows: their announced infos, measured latency, and temporary bans.
public final class SwarmDirectory: @unchecked Sendable {
    public let peers: [PeerAddress]
    public let host: PluginHost
    public let options: SwarmClientOptions
    private let logger: Logger
    private let lock = NSLock()
    private var bannedUntil: [String: Double] = [:]
    private var busyUntil: [String: Double] = [:]

    public init(peers: [PeerAddress], host: PluginHost, options: SwarmClientOptions = SwarmClientOptions(),
                logger: Logger = Logger(label: "petals.client")) {
        self.peers = peers
        self.host = host
        self.options = options
        self.logger = logger
    }

    private var now: Double { ProcessInfo.processInfo.systemUptime }

    /// Leaves `address` out of routes for `banSeconds`.
    public func ban(_ address: String, reason: String) {
        logger.warning("banning \(address) for \(options.banSeconds) s: \(reason)")
        lock.withLock { bannedUntil[address] = now + options.banSeconds }
    }

    /// Prefers other servers to one that refused for lack of room, for `busySeconds`; routes
    /// still take it when no other server holds its blocks (after the attempt's backoff).
    private func skipBusy(_ address: String, _ error: Error) {
        logger.notice("\(address) has no room now (\(error)): preferring other servers for \(options.busySeconds) s")
        lock.withLock { busyUntil[address] = now + options.busySeconds }
    }

    /// A refusal for lack of room (at its connection limit, or full: code 503), which passes once
    /// the server's other clients are done.
    static func isBusy(_ error: Error) -> Bool { (error as? WireError)?.fault == .capacity }

    /// Decides what a failure of `address` means: a request the server refused for what it
    /// asked (a 4xx code other than a lost session) is rethrown as ``RequestRefused`` and the
    /// server stays in routes; a lost session just moves on; a server without room is routed
    /// around for `busySeconds` only; everything else bans the server.
    public func judge(_ address: String, error: Error) throws {
        if case WireError.remote(let code, let message) = error, WireErrorCode.fault(of: code) == .request {
            guard code == WireErrorCode.unknownSession.rawValue else {
                throw RequestRefused(server: address, code: code, message: message)
            }
            logger.info("\(address) no longer holds our session (\(message)): reopening it")
            return
        }
        if Self.isBusy(error) { return skipBusy(address, error) }
        ban(address, reason: "\(error)")
    }

    /// Servers left out of routes after a failure.
    public var banned: Set<String> {
        lock.withLock {
            let t = now
            return Set(bannedUntil.filter { $0.value > t }.keys)
        }
    }

    /// Servers that refused for lack of room a moment ago (routes prefer others).
    public var busy: Set<String> {
        lock.withLock {
            let t = now
            return Set(busyUntil.filter { $0.value > t }.keys)
        }
    }

    public func connect(_ address: PeerAddress) throws -> PeerClient {
        let suffix = address.transport == "tls" ? options.tlsCA.map { "?ca=\($0)" } ?? "" : ""
        return try PeerClient(address: address, host: host, locationSuffix: suffix, dtype: options.dtype,
                       connectTimeout: options.connectTimeout, requestTimeout: options.requestTimeout)
    }

    /// Asks every peer not banned for its info; peers that do not answer are banned (or, when
    /// they refused for lack of room, marked busy).
    /// `model` and `blockCount` filter out servers of another model.
    public func candidates(model: String, blockCount: Int) -> [ServerCandidate] {
        let skip = banned
        var found: [ServerCandidate] = []
        for peer in peers where !skip.contains(peer.description) {
            let start = now
            do {
                let client = try connect(peer)
                defer { client.close() }
                let info = try client.info()
                guard info.model == model, info.blockCount == blockCount else {
                    logger.warning("\(peer) serves \(info.model) (\(info.blockCount) blocks), not \(model): ignored")
                    continue
                }
                let blocks = max(info.blocks.count, 1)
                found.append(ServerCandidate(address: peer.description, blocks: info.blocks,
                                             freeCacheTokens: info.freeCacheTokens, latencySeconds: now - start,
                                             secondsPerBlock: 1 / max(info.throughput, 1e-6) / Double(blocks),
                                             maxSessionLength: info.maxSessionLength))
            } catch {
                if Self.isBusy(error) { skipBusy(peer.description, error) } else { ban(peer.description, reason: "\(error)") }
            }
        }
        return found
    }
}

/// A server refused a request for what it asked (its size, shape or position): the request must
/// change, no server is at fault.
public struct RequestRefused: Error, Equatable, CustomStringConvertible {
    public var server: String
    public var code: UInt16
    public var message: String

    public var description: String { "the request was refused by \(server): \(message)" }
}
