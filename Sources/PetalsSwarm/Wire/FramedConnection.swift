import Foundation
import PluginAPI

/// The shard protocol over a transport connection: a handshake, then frames of u32
/// little-endian length + payload.
///
/// Handshake (v2): each side sends "PPTW", version u16, status u16, then u16 length + that many
/// bytes of extensions (type u8, length u16, value). Receivers skip extension types they do not
/// know, so later versions can add fields — a server identity (type 1, reserved) is the next
/// one — without breaking older peers. A v1 peer's 8-byte hello gets an 8-byte "unsupported
/// version" answer it understands.
public final class FramedConnection: @unchecked Sendable {
    public static let protocolVersion: UInt16 = 2
    static let magic: [UInt8] = Array("PPTW".utf8)
    /// Largest extension area a hello may carry.
    static let maxExtensionBytes = 4096
    /// Frames are read in pieces of at most this many bytes, so memory follows what arrived.
    static let readChunkBytes = 64 << 10

    enum HandshakeStatus: UInt16 {
        case ok = 0
        case unsupportedVersion = 1
        case badMagic = 2
        /// The server is at a connection limit; the reason extension says which.
        case refused = 3
    }

    /// Handshake extension types (stable: part of the protocol).
    public enum ExtensionType: UInt8 {
        /// Reserved for the server's identity (a key and a signature over the client's nonce).
        case serverIdentity = 1
        /// UTF-8 text: why the connection was refused.
        case reason = 2
    }

    public let connection: TransportConnection
    /// Frames longer than this are refused before their payload is read.
    public let maxFrameBytes: Int
    /// The extensions the peer sent in its hello.
    public private(set) var peerExtensions: [UInt8: [UInt8]] = [:]

    public init(_ connection: TransportConnection, maxFrameBytes: Int) {
        self.connection = connection
        self.maxFrameBytes = maxFrameBytes
    }

    static func hello(version: UInt16, status: UInt16, extensions: [(ExtensionType, [UInt8])] = []) -> [UInt8] {
        var w = ByteWriter()
        w.raw(magic)
        w.u16(version)
        w.u16(status)
        guard version >= 2 else { return w.bytes }
        var area = ByteWriter()
        for (type, value) in extensions {
            area.u8(type.rawValue)
            area.u16(UInt16(clamping: value.count))
            area.raw(Array(value.prefix(Int(UInt16.max))))
        }
        let bytes = Array(area.bytes.prefix(maxExtensionBytes))
        w.u16(UInt16(bytes.count))
        w.raw(bytes)
        return w.bytes
    }

    /// Reads the rest of a v2 hello: the extension area.
    private func readExtensions(timeout: Double) throws {
        guard let lengthBytes = try connection.receive(exactly: 2, timeout: timeout) else {
            throw WireError.handshakeFailed("hello ended after 8 bytes")
        }
        var lr = ByteReader(lengthBytes)
        let length = Int(try lr.u16())
        guard length <= Self.maxExtensionBytes else {
            throw WireError.handshakeFailed("hello extensions of \(length) bytes exceed \(Self.maxExtensionBytes)")
        }
        guard length > 0 else { return }
        guard let area = try connection.receive(exactly: length, timeout: timeout) else {
            throw WireError.handshakeFailed("hello extensions did not arrive within \(timeout) s")
        }
        var r = ByteReader(area)
        var found: [UInt8: [UInt8]] = [:]
        while r.remaining > 0 {
            let type = try r.u8()
            let size = Int(try r.u16())
            found[type] = Array(try r.raw(size))
        }
        peerExtensions = found
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
        if version >= 2 { try readExtensions(timeout: timeout) }
        switch HandshakeStatus(rawValue: status) {
        case .ok:
            guard version == Self.protocolVersion else {
                throw WireError.handshakeFailed("server speaks protocol v\(version), we speak v\(Self.protocolVersion)")
            }
        case .refused:
            let reason = peerExtensions[ExtensionType.reason.rawValue].map { String(decoding: $0, as: UTF8.self) }
            throw WireError.connectionRefused(reason ?? "the server is at its connection limit")
        default:
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
            try? connection.send(Self.hello(version: 1, status: HandshakeStatus.badMagic.rawValue))
            throw WireError.handshakeFailed("client is not speaking the shard protocol")
        }
        let version = try r.u16()
        guard version == Self.protocolVersion else {
            // Answer in the v1 form: every version reads its first 8 bytes.
            try? connection.send(Self.hello(version: 1, status: HandshakeStatus.unsupportedVersion.rawValue))
            throw WireError.handshakeFailed("client speaks protocol v\(version), we speak v\(Self.protocolVersion)")
        }
        try readExtensions(timeout: timeout)
        try connection.send(Self.hello(version: Self.protocolVersion, status: HandshakeStatus.ok.rawValue))
    }

    /// Server side, instead of a handshake: tells the client why it is turned away. The client's
    /// hello is not read (it costs nothing to leave it in the socket that is about to close).
    public func refuse(reason: String) {
        try? connection.send(Self.hello(version: Self.protocolVersion, status: HandshakeStatus.refused.rawValue,
                                        extensions: [(.reason, Array(reason.utf8))]))
    }

    public func send(frame payload: [UInt8]) throws {
        var w = ByteWriter(capacity: payload.count + 4)
        w.u32(UInt32(payload.count))
        w.raw(payload)
        try connection.send(w.bytes)
    }

    /// The next frame's payload; nil when no frame started within `idleTimeout` seconds.
    /// Once a frame started, all of it must arrive within `bodyTimeout` (one deadline for the
    /// frame, however the bytes trickle in). Frames over `limit` (default: `maxFrameBytes`) are
    /// refused from their header; the payload is read in pieces, so a header that promises
    /// megabytes costs memory only as the bytes actually arrive.
    public func receiveFrame(idleTimeout: Double?, bodyTimeout: Double, limit: Int? = nil) throws -> [UInt8]? {
        guard let header = try connection.receive(exactly: 4, timeout: idleTimeout) else { return nil }
        var r = ByteReader(header)
        let length = Int(try r.u32())
        let cap = min(limit ?? maxFrameBytes, maxFrameBytes)
        guard length <= cap else { throw WireError.frameTooLarge(length: length, limit: cap) }
        guard length > 0 else { throw WireError.malformed("empty frame") }
        let deadline = ProcessInfo.processInfo.systemUptime + bodyTimeout
        var body: [UInt8] = []
        body.reserveCapacity(min(length, Self.readChunkBytes))
        while body.count < length {
            let left = deadline - ProcessInfo.processInfo.systemUptime
            let piece = min(Self.readChunkBytes, length - body.count)
            guard left > 0, let bytes = try connection.receive(exactly: piece, timeout: left) else {
                throw WireError.frameTimedOut(length: length, received: body.count, seconds: bodyTimeout)
            }
            body.append(contentsOf: bytes)
        }
        return body
    }
}
