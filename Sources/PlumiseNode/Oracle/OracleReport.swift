import Foundation
import PlumiseChain

extension OracleReport {
    /// A signed report of `snapshot` at `timestamp`, carrying `tokensProcessed` (the snapshot's
    /// count within the reporter's ``TokenWindow``). The wire format is ``OracleReport`` in
    /// PlumiseChain, shared with the dev oracle that verifies it.
    public static func signed(by wallet: Wallet, snapshot: MetricsSnapshot, tokensProcessed: Int, timestamp: Int,
                              proofs: [InferenceProof]) throws -> OracleReport {
        try signed(by: wallet, tokensProcessed: tokensProcessed,
                   avgLatencyMs: (snapshot.averageLatencyMilliseconds * 1000).rounded() / 1000,
                   uptimeSeconds: Int(snapshot.uptimeSeconds), requestCount: snapshot.requestCount,
                   timestamp: timestamp, proofs: proofs)
    }
}
