import Foundation
import PluginAPI

/// A client's connection to one shard server: one request at a time, each answered in order.
public final class PeerClient: @unchecked Sendable {
    public let address: PeerAddress
    public let dtype: WireDType
    private let framed: FramedConnection
    private let requestTimeout: Double

    /// Connects and shakes hands; `requestTimeout` bounds the wait for each reply.
    /// `locationSuffix` adds transport options to the address (e.g. "?ca=FILE" for tls).
    public init(address: PeerAddress, host: PluginHost, locationSuffix: String = "", dtype: WireDType = .f32,
                connectTimeout: Double = 5, requestTimeout: Double = 60) throws {
        let transport = try host.transport(named: address.transport)
        let connection = try transport.connect(address: address.location + locationSuffix, timeout: connectTimeout)
        // Each reply is held to what its request can need (replyLimit); this is the ceiling.
        framed = FramedConnection(connection, maxFrameBytes: 1 << 30)
        try framed.clientHandshake(timeout: connectTimeout)
        self.address = address
        self.dtype = dtype
        self.requestTimeout = requestTimeout
    }

    public func close() { framed.connection.close() }

    /// Room for an error reply or a server's info: a message, never megabytes.
    static let smallReplyLimit = 64 << 10

    /// The longest reply `request` can get: states of the same shape as those sent (plus
    /// headers), or a small message.
    static func replyLimit(for request: Request, dtype: WireDType) -> Int {
        switch request {
        case .forward(let states), .step(_, _, let states):
            return max(smallReplyLimit, 16 + states.rows * states.cols * dtype.bytesPerValue)
        case .info, .openSession, .closeSession:
            return smallReplyLimit
        }
    }

    /// Sends `request` and waits for its reply; error replies become WireError.remote. A reply
    /// longer than the request can need is refused from its header (the peer is broken or
    /// hostile: the caller bans it).
    public func call(_ request: Request) throws -> Response {
        try framed.send(frame: request.encode(dtype: dtype))
        let payload: [UInt8]?
        do {
            payload = try framed.receiveFrame(idleTimeout: requestTimeout, bodyTimeout: requestTimeout,
                                              limit: Self.replyLimit(for: request, dtype: dtype))
        } catch WireError.frameTooLarge(let length, let limit) {
            throw PeerError.replyTooLarge(address: address, length: length, limit: limit)
        }
        guard let payload else {
            throw PeerError.timeout(address: address, seconds: requestTimeout)
        }
        let response = try Response.decode(payload)
        if case .error(let code, let message) = response { throw WireError.remote(code: code, message: message) }
        return response
    }

    public func info() throws -> ServerInfo {
        guard case .info(let info) = try call(.info) else { throw WireError.unexpectedReply("to info") }
        return info
    }

    public func forward(_ states: HiddenStates) throws -> HiddenStates {
        guard case .states(let out) = try call(.forward(states)) else { throw WireError.unexpectedReply("to forward") }
        return out
    }

    public func openSession(maxLength: Int) throws -> UInt64 {
        guard case .opened(let id) = try call(.openSession(maxLength: maxLength)) else {
            throw WireError.unexpectedReply("to open session")
        }
        return id
    }

    public func step(session: UInt64, position: Int, _ states: HiddenStates) throws -> HiddenStates {
        guard case .states(let out) = try call(.step(session: session, position: position, states: states)) else {
            throw WireError.unexpectedReply("to step")
        }
        return out
    }

    public func closeSession(_ id: UInt64) throws {
        guard case .closed = try call(.closeSession(id)) else { throw WireError.unexpectedReply("to close session") }
    }
}

public enum PeerError: Error, CustomStringConvertible {
    case timeout(address: PeerAddress, seconds: Double)
    case replyTooLarge(address: PeerAddress, length: Int, limit: Int)

    public var description: String {
        switch self {
        case .timeout(let address, let seconds): return "\(address) did not answer within \(seconds) s"
        case .replyTooLarge(let address, let length, let limit):
            return "\(address) announced a reply of \(length) bytes where the request can need at most \(limit)"
        }
    }
}
