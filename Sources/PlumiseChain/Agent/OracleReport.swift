import Foundation

/// The body of POST /api/v1/metrics/report: exactly the keys of plumise-oracle's ReportMetricsDto
/// (src/modules/metrics/dto/report-metrics.dto.ts; any other key is a 400): cumulative counters,
/// a timestamp, the agent's personal_sign over the canonical string (metrics.service.ts
/// verifySignature), and the proofs buffered since the last report.
///
/// It lives in the chain module so that the node that signs it and the dev oracle that
/// verifies it share one definition of the signed text.
public struct OracleReport: Codable, Equatable, Sendable {
    public var wallet: String
    public var tokensProcessed: Int
    public var avgLatencyMs: Double
    public var uptimeSeconds: Int
    public var requestCount: Int
    public var timestamp: Int
    public var signature: String
    public var proofs: [ReportedProof]?

    public init(wallet: String, tokensProcessed: Int, avgLatencyMs: Double, uptimeSeconds: Int, requestCount: Int,
                timestamp: Int, signature: String, proofs: [ReportedProof]?) {
        self.wallet = wallet
        self.tokensProcessed = tokensProcessed
        self.avgLatencyMs = avgLatencyMs
        self.uptimeSeconds = uptimeSeconds
        self.requestCount = requestCount
        self.timestamp = timestamp
        self.signature = signature
        self.proofs = proofs
    }

    /// The exact signed text: {"agent":"<wallet>","processed_tokens":<n>,"timestamp":<t>}.
    public static func canonicalMessage(wallet: String, tokensProcessed: Int, timestamp: Int) -> String {
        // Built by hand: the key order and compact form are part of the protocol.
        "{\"agent\":\(JSONText.string(wallet)),\"processed_tokens\":\(tokensProcessed),\"timestamp\":\(timestamp)}"
    }

    public var canonicalMessage: String {
        Self.canonicalMessage(wallet: wallet, tokensProcessed: tokensProcessed, timestamp: timestamp)
    }

    /// A report of these counters at `timestamp`, signed by `wallet`.
    public static func signed(by wallet: Wallet, tokensProcessed: Int, avgLatencyMs: Double, uptimeSeconds: Int,
                              requestCount: Int, timestamp: Int, proofs: [InferenceProof]) throws -> OracleReport {
        let address = wallet.address.description
        let message = canonicalMessage(wallet: address, tokensProcessed: tokensProcessed, timestamp: timestamp)
        return OracleReport(
            wallet: address, tokensProcessed: tokensProcessed, avgLatencyMs: avgLatencyMs, uptimeSeconds: uptimeSeconds,
            requestCount: requestCount, timestamp: timestamp, signature: try wallet.personalSign(message).hex,
            proofs: proofs.isEmpty ? nil : proofs.map(\.reported))
    }

    /// The address that signed this report (what the oracle checks against `wallet`).
    public func signer() throws -> Address {
        try PersonalMessage.signer(of: canonicalMessage, signature: Signature(hex: signature))
    }
}

/// JSON text written by hand where the exact bytes are signed (JSON.stringify's form).
public enum JSONText {
    /// A JSON string literal: quotes, backslashes and control characters escaped.
    public static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
