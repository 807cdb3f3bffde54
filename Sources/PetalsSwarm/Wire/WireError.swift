/// Error codes carried by error replies (stable: part of the wire protocol).
public enum WireErrorCode: UInt16, Sendable {
    case malformed = 1
    case badShape = 2
    case tooLarge = 3
    case unknownSession = 4
    case serverFull = 5
    case lengthTooLarge = 6
    case badPosition = 7
    case busy = 8
    case internalError = 9
    case unsupportedVersion = 10
}

/// Failures of the shard protocol, on either side.
public enum WireError: Error, Equatable, CustomStringConvertible {
    /// Bytes that do not form a valid message.
    case malformed(String)
    /// A frame longer than the receiver accepts.
    case frameTooLarge(length: Int, limit: Int)
    /// The peer speaks another protocol (or is not a shard server at all).
    case handshakeFailed(String)
    /// The server answered with an error reply.
    case remote(code: UInt16, message: String)
    /// A reply of a type the request does not expect.
    case unexpectedReply(String)

    public var description: String {
        switch self {
        case .malformed(let why): return "malformed message: \(why)"
        case .frameTooLarge(let length, let limit): return "frame of \(length) bytes exceeds the limit of \(limit)"
        case .handshakeFailed(let why): return "handshake failed: \(why)"
        case .remote(_, let message): return "server error: \(message)"
        case .unexpectedReply(let what): return "unexpected reply: \(what)"
        }
    }
}
