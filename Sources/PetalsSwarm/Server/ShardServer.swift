import Foundation
import Logging
import PetalsModel
import PluginAPI

/// Serves one shard's blocks to remote clients over a transport plugin: stateless forwards and
/// inference sessions whose KV cache lives here (in the shard's cache pool). One thread per
/// connection; a session belongs to the connection that opened it and is freed when that
/// connection goes away. Connection threads never run the shard themselves: they submit steps
/// to the shard's ``StepScheduler``, which batches the steps of all clients.
public final class ShardServer: @unchecked Sendable {
    public let shard: ModelShard
    public let limits: ServerLimits
    /// Runs every step of every client (shared with this process's own generations when the
    /// node holds all blocks).
    public let scheduler: StepScheduler
    public var modelName: String { shard.modelDescription.name }
    /// Where clients reach this server, e.g. "tcp://127.0.0.1:31330" (set by `start`).
    public private(set) var address = ""

    private let transport: TransportPlugin
    private let listenAddress: String
    private let sessions: SessionRegistry<KVCache>
    private let logger: Logger
    private var listener: TransportListener?
    private let ownsScheduler: Bool
    private let stopping = OneWayFlag()
    private let workers = DispatchGroup()
    private let connections: ConnectionAdmission
    private var throughput = 0.0

    /// Seconds the accept and receive loops wait before checking whether to stop.
    static let pollInterval = 0.25

    public init(shard: ModelShard, transport: TransportPlugin, listenAddress: String,
                limits: ServerLimits = ServerLimits(), scheduler: StepScheduler? = nil,
                logger: Logger = Logger(label: "petals.server")) {
        self.shard = shard
        self.scheduler = scheduler ?? StepScheduler(shard: shard)
        ownsScheduler = scheduler == nil
        self.transport = transport
        self.listenAddress = listenAddress
        self.limits = limits
        self.sessions = SessionRegistry(limits: limits)
        self.connections = ConnectionAdmission(limits: limits)
        self.logger = logger
    }

    /// Connections open now (each has its own thread).
    public var openConnections: Int { connections.openCount }

    /// Largest frame a request can need: a step of maxTokensPerRequest f32 rows, plus headers.
    var maxFrameBytes: Int { 64 + limits.maxTokensPerRequest * shard.hp.embedding * 4 }

    /// Measures throughput, binds, and starts accepting clients in the background.
    public func start() throws {
        throughput = measureThroughput()
        let listener = try transport.listen(address: listenAddress)
        self.listener = listener
        address = PeerAddress(transport: transport.plugin.name, location: listener.boundAddress).description
        logger.info("serving blocks [\(shard.blocks.lowerBound), \(shard.blocks.upperBound)) of \(modelName) on \(address)")
        spawn("accept") { [self] in acceptLoop(listener) }
        spawn("reaper") { [self] in
            while !stopping.isSet {
                Thread.sleep(forTimeInterval: Self.pollInterval * 4)
                for id in sessions.reapIdle() { logger.info("session \(id) idle too long: freed") }
            }
        }
    }

    /// Stops accepting, lets every connection thread finish its current request, frees sessions.
    public func stop() {
        stopping.set()
        workers.wait()
        listener?.close()
        listener = nil
        if ownsScheduler { scheduler.stop() }
    }

    public var info: ServerInfo {
        ServerInfo(protocolVersion: Int(FramedConnection.protocolVersion), model: modelName,
                   blockStart: shard.blocks.lowerBound, blockEnd: shard.blocks.upperBound,
                   blockCount: shard.hp.blockCount, hiddenSize: shard.hp.embedding,
                   freeCacheTokens: min(sessions.freeCacheTokens, shard.cachePool.freeTokens), maxSessionLength: limits.maxSessionLength,
                   openSessions: sessions.openCount, throughput: throughput, version: "plumise-petals/0.1")
    }

    private func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
        workers.enter()
        let thread = Thread { [workers] in
            body()
            workers.leave()
        }
        thread.name = "petals-\(name)"
        thread.start()
    }

    /// One token through every block of the shard, timed (a warm-up as well).
    private func measureThroughput() -> Double {
        let hidden = FloatBuffer(count: shard.hp.embedding)
        let start = DispatchTime.now().uptimeNanoseconds
        var runs = 0
        repeat {
            try? shard.forward(hidden, nTok: 1, cache: shard.makeCache(capacity: 1))
            runs += 1
        } while DispatchTime.now().uptimeNanoseconds - start < 50_000_000 && runs < 20
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Double(runs) / max(seconds, 1e-9)
    }

    private func acceptLoop(_ listener: TransportListener) {
        while !stopping.isSet {
            do {
                guard let connection = try listener.accept(timeout: Self.pollInterval) else { continue }
                let peer = connection.peerHost ?? "unknown"
                if let refusal = connections.admit(peer) {
                    // Answered on this thread: a refused client costs no thread and keeps no fd.
                    logger.notice("refused a connection from \(peer): \(refusal)")
                    FramedConnection(connection, maxFrameBytes: 0).refuse(reason: refusal)
                    connection.close()
                    continue
                }
                spawn("connection") { [self] in
                    defer { connections.release(peer) }
                    serve(connection)
                }
            } catch {
                logger.error("accept failed: \(error)")
                Thread.sleep(forTimeInterval: Self.pollInterval)
            }
        }
    }

    // MARK: - One connection

    private func serve(_ connection: TransportConnection) {
        let framed = FramedConnection(connection, maxFrameBytes: maxFrameBytes)
        var owned = Set<UInt64>()
        defer {
            owned.forEach { sessions.close($0) }
            connection.close()
        }
        do {
            try framed.serverHandshake(timeout: 10)
        } catch {
            logger.debug("handshake refused: \(error)")
            return
        }
        var lastActivity = ProcessInfo.processInfo.systemUptime
        while !stopping.isSet {
            let payload: [UInt8]
            do {
                guard let frame = try framed.receiveFrame(idleTimeout: Self.pollInterval, bodyTimeout: limits.stepTimeoutSeconds) else {
                    // Quiet for the idle timeout: hang up, whether or not it had sessions (they
                    // idled out too, and the client reconnects and replays if it comes back).
                    if ProcessInfo.processInfo.systemUptime - lastActivity > limits.idleTimeoutSeconds {
                        logger.debug("connection idle for \(limits.idleTimeoutSeconds) s: closed")
                        return
                    }
                    continue
                }
                payload = frame
            } catch let error as WireError {
                // The stream can no longer be trusted to be in step: answer, then hang up.
                reply(framed, .error(code: code(for: error).rawValue, message: error.description), dtype: .f32)
                return
            } catch {
                logger.debug("connection ended: \(error)")
                return
            }
            lastActivity = ProcessInfo.processInfo.systemUptime
            let response: Response
            var dtype = WireDType.f32
            do {
                let (request, requestDType) = try Request.decode(payload)
                dtype = requestDType
                response = try handle(request, owned: &owned)
            } catch {
                response = .error(code: code(for: error).rawValue, message: "\(error)")
            }
            guard reply(framed, response, dtype: dtype) else { return }
            lastActivity = ProcessInfo.processInfo.systemUptime
        }
    }

    @discardableResult
    private func reply(_ framed: FramedConnection, _ response: Response, dtype: WireDType) -> Bool {
        do {
            try framed.send(frame: try response.encode(dtype: dtype))
            return true
        } catch {
            logger.debug("reply failed: \(error)")
            return false
        }
    }

    private func handle(_ request: Request, owned: inout Set<UInt64>) throws -> Response {
        switch request {
        case .info:
            return .info(info)
        case .forward(let states):
            try check(states)
            let cache = try shard.openCache(capacity: states.rows)
            return .states(try run(states, position: 0, cache: cache))
        case .openSession(let maxLength):
            let entry = try sessions.open(maxLength: maxLength) { try shard.openCache(capacity: maxLength) }
            owned.insert(entry.id)
            return .opened(entry.id)
        case .step(let id, let position, let states):
            try check(states)
            guard owned.contains(id) else { throw SessionError.unknownSession(id) }
            return try sessions.use(id) { entry in
                let cache = entry.state
                guard position <= cache.count else {
                    throw ServerRequestError.badPosition("step starts at position \(position) but the session holds \(cache.count)")
                }
                guard position + states.rows <= entry.maxLength else {
                    throw ServerRequestError.badPosition("step to position \(position + states.rows) exceeds the session length \(entry.maxLength)")
                }
                return .states(try run(states, position: position, cache: cache))
            }
        case .closeSession(let id):
            guard owned.remove(id) != nil, sessions.close(id) else { throw SessionError.unknownSession(id) }
            return .closed
        }
    }

    private func check(_ states: HiddenStates) throws {
        guard states.cols == shard.hp.embedding else {
            throw ServerRequestError.badShape("hidden states have \(states.cols) values per token, this model has \(shard.hp.embedding)")
        }
        guard states.rows >= 1, states.rows <= limits.maxTokensPerRequest else {
            throw ServerRequestError.badShape("\(states.rows) tokens in one request; allowed 1...\(limits.maxTokensPerRequest)")
        }
    }

    /// The step through the scheduler (batched with other clients' steps); the cache forgets
    /// positions from `position` on first.
    private func run(_ states: HiddenStates, position: Int, cache: KVCache) throws -> HiddenStates {
        let buffer = FloatBuffer(count: states.values.count)
        buffer.copy(from: states.values)
        try scheduler.run(buffer, rows: states.rows, position: position, cache: cache)
        return HiddenStates(rows: states.rows, cols: states.cols, values: buffer.array())
    }

    private func code(for error: Error) -> WireErrorCode {
        switch error {
        case WireError.frameTooLarge: return .tooLarge
        case is WireError: return .malformed
        case ServerRequestError.badShape: return .badShape
        case ServerRequestError.badPosition: return .badPosition
        case SessionError.unknownSession: return .unknownSession
        case SessionError.busy: return .busy
        case SessionError.tooManySessions, SessionError.cacheFull, ModelError.cacheFull: return .serverFull
        case SchedulerError.queueFull: return .busy
        case SessionError.lengthTooLarge, SessionError.invalidLength: return .lengthTooLarge
        default: return .internalError
        }
    }
}

/// Requests that are well formed but cannot be served as asked.
enum ServerRequestError: Error, CustomStringConvertible {
    case badShape(String)
    case badPosition(String)

    var description: String {
        switch self {
        case .badShape(let why), .badPosition(let why): return why
        }
    }
}
