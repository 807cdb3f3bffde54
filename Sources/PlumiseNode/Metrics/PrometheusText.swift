/// Prometheus text exposition (version 0.0.4) written metric by metric: each with its `# HELP`
/// and `# TYPE` lines and the same labels on every sample.
struct PrometheusText {
    private(set) var text = ""
    private let labels: [String]

    init(labels: [String: String] = [:]) {
        self.labels = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(Self.escape($0.value))\"" }
    }

    /// One counter or gauge sample.
    mutating func metric(_ name: String, _ type: String, _ help: String, _ value: Double) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name)\(labelText()) \(Self.format(value))\n"
    }

    /// A histogram; `cumulativeBuckets` pairs each upper bound with the samples at or below it
    /// (+Inf is `count`).
    mutating func histogram(_ name: String, _ help: String, cumulativeBuckets: [(upperBound: Double, count: Int)],
                            count: Int, sum: Double) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        for bucket in cumulativeBuckets {
            text += "\(name)_bucket\(labelText("le=\"\(Self.format(bucket.upperBound))\"")) \(bucket.count)\n"
        }
        text += "\(name)_bucket\(labelText("le=\"+Inf\"")) \(count)\n"
        text += "\(name)_sum\(labelText()) \(Self.format(sum))\n\(name)_count\(labelText()) \(count)\n"
    }

    /// Per-bucket counts turned into the cumulative ones ``histogram`` takes.
    static func cumulative(bounds: [Double], counts: [Int]) -> [(upperBound: Double, count: Int)] {
        var running = 0
        return zip(bounds, counts).map { bound, n in
            running += n
            return (bound, running)
        }
    }

    private func labelText(_ extra: String? = nil) -> String {
        let all = labels + (extra.map { [$0] } ?? [])
        return all.isEmpty ? "" : "{" + all.joined(separator: ",") + "}"
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
