import PluginAPI

/// The shard protocol over a transport connection: an 8-byte handshake ("PPTW", version u16,
/// status u16), then frames of u32 little-endian length + payload.
public final class FramedConnection: @unchecked Sendable {
    public static let protocolVersion: UInt16 = 1
    static let magic: [UInt8] = Array("PPTW".utf8)

    enum HandshakeStatus: UInt16 {
        case ok = 0
        case unsupportedVersion = 1
        case badMagic = 2
    }

    public let connection: TransportConnection
    /// Frames longer than this are refused before their payload is read.
    public let maxFrameBytes: Int

    public init(_ connection: TransportConnection, maxFrameBytes: Int) {
        self.connection = connection
        self.maxFrameBytes = maxFrameBytes
    }

    static func hello(version: UInt16, status: UInt16) -> [UInt8] {
        var w = ByteWriter()
        w.raw(magic)
        w.u16(version)
        w.u16(status)
        return w.bytes
    }

    /// Client side: announces our version and checks the server accepts it.
    public func clientHandshake(timeout: Double) throws {
        try connection.send(Self.hello(version: Self.protocolVersion, status: 0))
        guard let reply = try connection.receive(exactly: 8, timeout: timeout) else {
            throw WireError.handshakeFailed("no answer within \(timeout) s")
        }
        var r = ByteReader(reply)
        guard Array(try r.raw(4)) == Self.magic else { throw WireError.handshakeFailed("peer is not a plumise-petals shard server") }
        let version = try r.u16(), status = try r.u16()
        guard status == HandshakeStatus.ok.rawValue else {
            throw WireError.handshakeFailed("server speaks protocol v\(version), we speak v\(Self.protocolVersion)")
        }
    }

    /// Server side: reads the client's hello and answers; throws (after answering) on mismatch.
    public func serverHandshake(timeout: Double) throws {
        guard let hello = try connection.receive(exactly: 8, timeout: timeout) else {
            throw WireError.handshakeFailed("client sent no hello within \(timeout) s")
        }
        var r = ByteReader(hello)
        guard Array(try r.raw(4)) == Self.magic else {
            try? connection.send(Self.hello(version: Self.protocolVersion, status: HandshakeStatus.badMagic.rawValue))
            throw WireError.handshakeFailed("client is not speaking the shard protocol")
        }
        let version = try r.u16()
        guard version == Self.protocolVersion else {
            try? connection.send(Self.hello(version: Self.protocolVersion, status: HandshakeStatus.unsupportedVersion.rawValue))
            throw WireError.handshakeFailed("client speaks protocol v\(version), we speak v\(Self.protocolVersion)")
        }
        try connection.send(Self.hello(version: Self.protocolVersion, status: HandshakeStatus.ok.rawValue))
    }

    public func send(frame payload: [UInt8]) throws {
        var w = ByteWriter(capacity: payload.count + 4)
        w.u32(UInt32(payload.count))
        w.raw(payload)
        try connection.send(w.bytes)
    }

    /// The next frame's payload; nil when no frame started within `idleTimeout` seconds.
    /// Once a frame started, its body must arrive within `bodyTimeout`.
    public func receiveFrame(idleTimeout: Double?, bodyTimeout: Double) throws -> [UInt8]? {
        guard let header = try connection.receive(exactly: 4, timeout: idleTimeout) else { return nil }
        var r = ByteReader(header)
        let length = Int(try r.u32())
        guard length <= maxFrameBytes else { throw WireError.frameTooLarge(length: length, limit: maxFrameBytes) }
        guard length > 0 else { throw WireError.malformed("empty frame") }
        guard let body = try connection.receive(exactly: length, timeout: bodyTimeout) else {
            throw WireError.malformed("frame body did not arrive within \(bodyTimeout) s")
        }
        return body
    }
}
