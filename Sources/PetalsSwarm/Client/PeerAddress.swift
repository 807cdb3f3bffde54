import Foundation

/// Where a shard server listens: a transport plugin name and that transport's address, written
/// "tcp://127.0.0.1:31330", "unix:///run/petals.sock", or plain "host:port" for TCP.
public struct PeerAddress: Hashable, Sendable, CustomStringConvertible {
    public var transport: String
    public var location: String

    public init(transport: String, location: String) {
        self.transport = transport
        self.location = location
    }

    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let range = trimmed.range(of: "://") {
            transport = String(trimmed[..<range.lowerBound]).lowercased()
            location = String(trimmed[range.upperBound...])
        } else {
            transport = "tcp"
            location = trimmed
        }
        guard !transport.isEmpty, !location.isEmpty else {
            throw PeerAddressError(text: text)
        }
    }

    /// Parses a comma-separated list, skipping empty items.
    public static func parseList(_ text: String) throws -> [PeerAddress] {
        try text.split(separator: ",").map { String($0) }.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            .map(PeerAddress.init(parsing:))
    }

    public var description: String { "\(transport)://\(location)" }
}

public struct PeerAddressError: Error, CustomStringConvertible {
    public let text: String
    public var description: String {
        "'\(text)' is not a peer address (expected host:port, tcp://host:port or unix:///path)"
    }
}
