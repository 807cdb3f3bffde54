import Foundation
import PlumiseChain

/// The body of POST /api/v1/metrics/report (DESIGN.md): cumulative counters, a timestamp, the
/// agent's personal_sign over the canonical string, and the proofs buffered since the last
/// accepted report.
public struct OracleReport: Codable, Equatable, Sendable {
    public var wallet: String
    public var tokensProcessed: Int
    public var avgLatencyMs: Double
    public var uptimeSeconds: Int
    public var requestCount: Int
    public var timestamp: Int
    public var signature: String
    public var proofs: [InferenceProof]?

    /// The exact signed text: {"agent":"<wallet>","processed_tokens":<n>,"timestamp":<t>}.
    public static func canonicalMessage(wallet: String, tokensProcessed: Int, timestamp: Int) -> String {
        // Built by hand: the key order and compact form are part of the protocol.
        let escaped = wallet.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "{\"agent\":\"\(escaped)\",\"processed_tokens\":\(tokensProcessed),\"timestamp\":\(timestamp)}"
    }

    public var canonicalMessage: String {
        Self.canonicalMessage(wallet: wallet, tokensProcessed: tokensProcessed, timestamp: timestamp)
    }

    /// A signed report of `snapshot` at `timestamp`.
    public static func signed(by wallet: Wallet, snapshot: MetricsSnapshot, timestamp: Int,
                              proofs: [InferenceProof]) throws -> OracleReport {
        let address = wallet.address.description
        let message = canonicalMessage(wallet: address, tokensProcessed: snapshot.tokensProcessed, timestamp: timestamp)
        return OracleReport(
            wallet: address, tokensProcessed: snapshot.tokensProcessed,
            avgLatencyMs: (snapshot.averageLatencyMilliseconds * 1000).rounded() / 1000,
            uptimeSeconds: Int(snapshot.uptimeSeconds), requestCount: snapshot.requestCount, timestamp: timestamp,
            signature: try wallet.personalSign(message).hex, proofs: proofs.isEmpty ? nil : proofs)
    }

    /// The address that signed this report (what the oracle checks against `wallet`).
    public func signer() throws -> Address {
        try PersonalMessage.signer(of: canonicalMessage, signature: Signature(hex: signature))
    }
}
