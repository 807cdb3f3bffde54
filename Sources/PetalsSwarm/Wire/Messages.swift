import Foundation

/// What a shard server says about itself (the reply to `info`), JSON on the wire.
public struct ServerInfo: Codable, Equatable, Sendable {
    public var protocolVersion: Int
    public var model: String
    public var blockStart: Int
    public var blockEnd: Int
    public var blockCount: Int
    public var hiddenSize: Int
    public var freeCacheTokens: Int
    public var maxSessionLength: Int
    public var openSessions: Int
    /// Tokens per second through this server's blocks, measured at startup (one token, cache of 1).
    public var throughput: Double
    public var version: String

    public var blocks: Range<Int> { blockStart..<blockEnd }
}

/// Requests a client sends. Message type bytes are stable: part of the protocol.
public enum Request: Equatable {
    case info
    /// Hidden states through the server's blocks at positions 0..<rows, no cache kept.
    case forward(HiddenStates)
    /// Opens an inference session holding up to `maxLength` positions.
    case openSession(maxLength: Int)
    /// Runs `states` at positions position..<position+rows of `session`; a position below the
    /// session's length first forgets the positions from there (a retried step).
    case step(session: UInt64, position: Int, states: HiddenStates)
    case closeSession(UInt64)

    func encode(dtype: WireDType) -> [UInt8] {
        var w = ByteWriter()
        switch self {
        case .info:
            w.u8(1)
        case .forward(let states):
            w.u8(2)
            states.encode(into: &w, as: dtype)
        case .openSession(let maxLength):
            w.u8(3)
            w.u32(UInt32(clamping: maxLength))
        case .step(let session, let position, let states):
            w.u8(4)
            w.u64(session)
            w.u32(UInt32(clamping: position))
            states.encode(into: &w, as: dtype)
        case .closeSession(let id):
            w.u8(5)
            w.u64(id)
        }
        return w.bytes
    }

    /// Decodes a request and the activation dtype it used (the reply uses the same).
    static func decode(_ bytes: [UInt8]) throws -> (Request, WireDType) {
        var r = ByteReader(bytes)
        let type = try r.u8()
        var dtype = WireDType.f32
        let request: Request
        switch type {
        case 1: request = .info
        case 2:
            let (states, d) = try HiddenStates.decode(from: &r)
            (request, dtype) = (.forward(states), d)
        case 3: request = .openSession(maxLength: Int(try r.u32()))
        case 4:
            let session = try r.u64(), position = Int(try r.u32())
            let (states, d) = try HiddenStates.decode(from: &r)
            (request, dtype) = (.step(session: session, position: position, states: states), d)
        case 5: request = .closeSession(try r.u64())
        default: throw WireError.malformed("unknown request type \(type)")
        }
        try r.finish()
        return (request, dtype)
    }
}

/// Replies a server sends.
public enum Response: Equatable {
    case info(ServerInfo)
    case states(HiddenStates)
    case opened(UInt64)
    case closed
    case error(code: UInt16, message: String)

    func encode(dtype: WireDType) throws -> [UInt8] {
        var w = ByteWriter()
        switch self {
        case .info(let info):
            w.u8(0x81)
            w.raw(Array(try JSONCoding.encoder.encode(info)))
        case .states(let states):
            w.u8(0x82)
            states.encode(into: &w, as: dtype)
        case .opened(let id):
            w.u8(0x83)
            w.u64(id)
        case .closed:
            w.u8(0x84)
        case .error(let code, let message):
            w.u8(0xFF)
            w.u16(code)
            w.string(message)
        }
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> Response {
        var r = ByteReader(bytes)
        let type = try r.u8()
        let response: Response
        switch type {
        case 0x81:
            let body = try r.raw(r.remaining)
            do {
                response = .info(try JSONCoding.decoder.decode(ServerInfo.self, from: Data(body)))
            } catch {
                throw WireError.malformed("server info is not valid: \(error)")
            }
        case 0x82: response = .states(try HiddenStates.decode(from: &r).0)
        case 0x83: response = .opened(try r.u64())
        case 0x84: response = .closed
        case 0xFF:
            let code = try r.u16()
            response = .error(code: code, message: try r.string())
        default: throw WireError.malformed("unknown reply type \(type)")
        }
        try r.finish()
        return response
    }
}

enum JSONCoding {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys]
        return e
    }()
    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }()
}
