import Foundation

/// POST /api/nodes/register: how a node tells plumise-oracle where its HTTP API is and what it
/// serves, so the inference gateway finds it (plumise-inference-api node-router.service.ts reads
/// GET /api/nodes). DTO: src/modules/metrics/dto/register-node.dto.ts; the signature is
/// personal_sign over JSON.stringify({address, endpoint, capabilities, timestamp})
/// (nodes.service.ts verifyRegistrationSignature). plumise-agent-app re-registers every 5
/// minutes with capabilities ["inference", <model id>].
public struct NodeRegistration: Codable, Equatable, Sendable {
    public var address: String
    /// An http(s) URL (@IsUrl with require_protocol).
    public var endpoint: String
    public var capabilities: [String]
    public var timestamp: Int
    public var signature: String
    /// Optional and not signed.
    public var benchmarkTokPerSec: Double?

    public static let reregisterInterval: Double = 300

    public var canonicalMessage: String {
        "{\"address\":\(JSONText.string(address)),\"endpoint\":\(JSONText.string(endpoint)),"
            + "\"capabilities\":[\(capabilities.map(JSONText.string).joined(separator: ","))],\"timestamp\":\(timestamp)}"
    }

    public static func signed(by wallet: Wallet, endpoint: String, capabilities: [String], timestamp: Int,
                              benchmarkTokPerSec: Double? = nil) throws -> NodeRegistration {
        var r = NodeRegistration(address: wallet.address.description, endpoint: endpoint, capabilities: capabilities,
                                 timestamp: timestamp, signature: "", benchmarkTokPerSec: benchmarkTokPerSec)
        r.signature = try wallet.personalSign(r.canonicalMessage).hex
        return r
    }

    public func signer() throws -> Address {
        try PersonalMessage.signer(of: canonicalMessage, signature: Signature(hex: signature))
    }
}
