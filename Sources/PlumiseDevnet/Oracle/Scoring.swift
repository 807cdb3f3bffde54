/// The oracle's V2 score of an agent's reported counters:
/// tokens/1000×40 + requests×25 + uptime×20 + max(0, 10000 − avgLatencyMs)×15.
public enum Scoring {
    public static func score(tokensProcessed: Int, requestCount: Int, uptimeSeconds: Int, avgLatencyMs: Double) -> Double {
        Double(tokensProcessed) / 1000 * 40 + Double(requestCount) * 25 + Double(uptimeSeconds) * 20
            + max(0, 10_000 - avgLatencyMs) * 15
    }
}
