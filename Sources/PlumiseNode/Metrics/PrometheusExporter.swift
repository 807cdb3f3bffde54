import Foundation

/// Renders a ``MetricsSnapshot`` in the Prometheus text exposition format (version 0.0.4).
public enum PrometheusExporter {
    /// The Content-Type of the rendered text.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The exposition text; every metric has `# HELP` and `# TYPE` lines and names start with `plumise_`.
    public static func render(_ s: MetricsSnapshot, labels: [String: String] = [:]) -> String {
        var out = ""
        let base = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(escape($0.value))\"" }

        func labelText(_ extra: [String] = []) -> String {
            let all = base + extra
            return all.isEmpty ? "" : "{" + all.joined(separator: ",") + "}"
        }
        func metric(_ name: String, _ type: String, _ help: String, _ value: Double) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name)\(labelText()) \(format(value))\n"
        }

        metric("plumise_tokens_processed_total", "counter", "Tokens generated since the node started.",
               Double(s.tokensProcessed))
        metric("plumise_requests_total", "counter", "Inference requests served since the node started.",
               Double(s.requestCount))

        let histogram = "plumise_request_latency_seconds"
        out += "# HELP \(histogram) Latency of inference requests in seconds.\n# TYPE \(histogram) histogram\n"
        for bucket in s.latencyBuckets {
            out += "\(histogram)_bucket\(labelText(["le=\"\(format(bucket.upperBound))\""])) \(bucket.count)\n"
        }
        out += "\(histogram)_bucket\(labelText(["le=\"+Inf\""])) \(s.requestCount)\n"
        out += "\(histogram)_sum\(labelText()) \(format(s.totalLatencySeconds))\n"
        out += "\(histogram)_count\(labelText()) \(s.requestCount)\n"

        metric("plumise_tokens_per_second", "gauge", "Tokens per second of generation time.", s.tokensPerSecond)
        metric("plumise_uptime_seconds", "gauge", "Seconds since the node started.", s.uptimeSeconds)
        metric("plumise_open_sessions", "gauge", "Open inference sessions.", Double(s.openSessions))
        metric("plumise_cache_used_bytes", "gauge", "KV cache memory in use.", Double(s.cacheUsedBytes))
        metric("plumise_cache_capacity_bytes", "gauge", "KV cache memory budget.", Double(s.cacheCapacityBytes))
        metric("plumise_report_successes_total", "counter", "Oracle reports accepted.", Double(s.reportSuccesses))
        metric("plumise_report_failures_total", "counter", "Oracle reports that failed.", Double(s.reportFailures))
        metric("plumise_proofs_pending", "gauge", "Inference proofs waiting for the next report.",
               Double(s.pendingProofs))
        metric("plumise_proofs_dropped_total", "counter", "Inference proofs dropped because the buffer was full.",
               Double(s.proofsDropped))
        metric("plumise_proofs_refused_total", "counter", "Inference proofs dropped because the oracle refused their report.",
               Double(s.proofsRefused))
        return out
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
