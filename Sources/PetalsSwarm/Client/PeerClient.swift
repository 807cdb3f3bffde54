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
        // Replies are bounded by the requests we send; the cap only guards against garbage.
        framed = FramedConnection(connection, maxFrameBytes: 1 << 30)
        try framed.clientHandshake(timeout: connectTimeout)
        self.address = address
        self.dtype = dtype
        self.requestTimeout = requestTimeout
    }

    public func close() { framed.connection.close() }

    /// Sends `request` and waits for its reply; error replies become WireError.remote.
    public func call(_ request: Request) throws -> Response {
        try framed.send(frame: request.encode(dtype: dtype))
        guard let payload = try framed.receiveFrame(idleTimeout: requestTimeout, bodyTimeout: requestTimeout) else {
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

    public var description: String {
        switch self {
        case .timeout(let address, let seconds): return "\(address) did not answer within \(seconds) s"
        }
    }
}
