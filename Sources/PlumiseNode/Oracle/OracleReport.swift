import Foundation
import PlumiseChain

extension OracleReport {
    /// A signed report of `snapshot` at `timestamp` (the wire format is ``OracleReport`` in
    /// PlumiseChain, shared with the dev oracle that verifies it).
    public static func signed(by wallet: Wallet, snapshot: MetricsSnapshot, timestamp: Int,
                              proofs: [InferenceProof]) throws -> OracleReport {
        try signed(by: wallet, tokensProcessed: snapshot.tokensProcessed,
                   avgLatencyMs: (snapshot.averageLatencyMilliseconds * 1000).rounded() / 1000,
                   uptimeSeconds: Int(snapshot.uptimeSeconds), requestCount: snapshot.requestCount,
                   timestamp: timestamp, proofs: proofs)
    }
}
