/// Error codes carried by error replies (stable: part of the wire protocol). Like HTTP status
/// codes, the hundreds say who is at fault, so a client can act on a code it does not know:
/// 4xx — the request cannot be served as asked (any server with these limits would refuse it;
/// never a reason to ban the server), 503 — the server is at capacity right now, other 5xx —
/// the server failed.
public enum WireErrorCode: UInt16, Sendable, CaseIterable {
    case malformed = 400
    case unknownSession = 404
    case badPosition = 409
    case tooLarge = 413
    case lengthTooLarge = 414
    case badShape = 422
    case busy = 429
    case internalError = 500
    case serverFull = 503
    case unsupportedVersion = 505

    /// Who is at fault for an error reply with code `raw` (known or not).
    public static func fault(of raw: UInt16) -> WireFault {
        switch raw {
        case 503: return .capacity
        case 400..<500: return .request
        default: return .server
        }
    }
}

/// What an error reply says about the request and the server that refused it.
public enum WireFault: Sendable, Equatable {
    /// The request cannot be served as asked: surface it to the user, keep the server.
    case request
    /// The server cannot take more work now: try another one.
    case capacity
    /// The server failed: leave it out of routes for a while.
    case server
}

/// Failures of the shard protocol, on either side.
public enum WireError: Error, Equatable, CustomStringConvertible {
    /// Bytes that do not form a valid message.
    case malformed(String)
    /// A frame longer than the receiver accepts.
    case frameTooLarge(length: Int, limit: Int)
    /// A frame that started but did not arrive whole within its deadline.
    case frameTimedOut(length: Int, received: Int, seconds: Double)
    /// The peer speaks another protocol (or is not a shard server at all).
    case handshakeFailed(String)
    /// The server refused the connection (it is at its connection limit).
    case connectionRefused(String)
    /// The server answered with an error reply.
    case remote(code: UInt16, message: String)
    /// A reply of a type the request does not expect.
    case unexpectedReply(String)

    public var description: String {
        switch self {
        case .malformed(let why): return "malformed message: \(why)"
        case .frameTooLarge(let length, let limit): return "frame of \(length) bytes exceeds the limit of \(limit)"
        case .frameTimedOut(let length, let received, let seconds):
            return "frame of \(length) bytes did not arrive within \(seconds) s (\(received) bytes came)"
        case .handshakeFailed(let why): return "handshake failed: \(why)"
        case .connectionRefused(let why): return "connection refused: \(why)"
        case .remote(_, let message): return "server error: \(message)"
        case .unexpectedReply(let what): return "unexpected reply: \(what)"
        }
    }

    /// Who is at fault: the request (an error reply of a request code), the server's capacity
    /// (a full server, a connection refused at its limit), or the server (every other failure:
    /// error replies of server codes, bad frames).
    public var fault: WireFault {
        switch self {
        case .remote(let code, _): return WireErrorCode.fault(of: code)
        case .connectionRefused: return .capacity
        default: return .server
        }
    }
}
