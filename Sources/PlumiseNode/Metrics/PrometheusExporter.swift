import Foundation

/// Renders a ``MetricsSnapshot`` in the Prometheus text exposition format (version 0.0.4).
public enum PrometheusExporter {
    /// The Content-Type of the rendered text.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The exposition text; every metric has `# HELP` and `# TYPE` lines and names start with `plumise_`.
    public static func render(_ s: MetricsSnapshot, labels: [String: String] = [:]) -> String {
        var out = PrometheusText(labels: labels)
        out.metric("plumise_tokens_processed_total", "counter", "Tokens generated since the node started.",
                   Double(s.tokensProcessed))
        out.metric("plumise_requests_total", "counter", "Inference requests served since the node started.",
                   Double(s.requestCount))
        out.histogram("plumise_request_latency_seconds", "Latency of inference requests in seconds.",
                      cumulativeBuckets: s.latencyBuckets.map { ($0.upperBound, $0.count) },
                      count: s.requestCount, sum: s.totalLatencySeconds)
        out.metric("plumise_tokens_per_second", "gauge", "Tokens per second of generation time.", s.tokensPerSecond)
        out.metric("plumise_uptime_seconds", "gauge", "Seconds since the node started.", s.uptimeSeconds)
        out.metric("plumise_open_sessions", "gauge", "Open inference sessions.", Double(s.openSessions))
        out.metric("plumise_cache_used_bytes", "gauge", "KV cache memory in use.", Double(s.cacheUsedBytes))
        out.metric("plumise_cache_capacity_bytes", "gauge", "KV cache memory budget.", Double(s.cacheCapacityBytes))
        out.metric("plumise_report_successes_total", "counter", "Oracle reports accepted.", Double(s.reportSuccesses))
        out.metric("plumise_report_failures_total", "counter", "Oracle reports that failed.", Double(s.reportFailures))
        out.metric("plumise_proofs_pending", "gauge", "Inference proofs waiting for the next report.",
                   Double(s.pendingProofs))
        out.metric("plumise_proofs_dropped_total", "counter", "Inference proofs dropped because the buffer was full.",
                   Double(s.proofsDropped))
        out.metric("plumise_proofs_refused_total", "counter",
                   "Inference proofs dropped because the oracle refused their report.", Double(s.proofsRefused))
        return out.text
    }
}
