import PlumiseChain
import Foundation

/// Cumulative counters of one node run (since start), a latency histogram, a few gauges the
/// server sets, and the buffer of inference proofs waiting for the next oracle report.
///
/// Thread-safe: every access holds one lock, so any thread or task may record.
public final class MetricsCollector: @unchecked Sendable {
    /// Prometheus' default buckets, extended for multi-second generations (seconds).
    public static let defaultLatencyBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
    /// Default number of proofs kept between reports.
    public static let defaultProofCapacity = 1000

    /// Seconds on a monotonic clock; injectable for tests.
    public typealias Clock = @Sendable () -> Double

    /// The monotonic clock used by default.
    public static let monotonicClock: Clock = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    private let lock = NSLock()
    private let clock: Clock
    private let startTime: Double
    public let latencyBuckets: [Double]
    public let proofCapacity: Int

    private var tokensProcessed = 0
    private var requestCount = 0
    private var totalLatencySeconds = 0.0
    private var bucketCounts: [Int]
    private var reportSuccesses = 0
    private var reportFailures = 0
    private var openSessions = 0
    private var cacheUsedBytes = 0
    private var cacheCapacityBytes = 0
    private var proofs: [InferenceProof] = []
    private var proofsDropped = 0
    private var proofsRefused = 0
    private var gaugeSource: GaugeSource?

    /// Live server gauges: (open sessions, KV cache bytes in use, KV cache byte budget).
    public typealias GaugeSource = @Sendable () -> (sessions: Int, usedBytes: Int, capacityBytes: Int)

    /// - Parameters:
    ///   - clock: monotonic seconds; uptime is measured from the value at init.
    ///   - latencyBuckets: upper bounds (seconds, ascending) of the latency histogram; +Inf is implicit.
    ///   - proofCapacity: proofs kept at most; the oldest are dropped (and counted) beyond it.
    public init(clock: @escaping Clock = MetricsCollector.monotonicClock,
                latencyBuckets: [Double] = MetricsCollector.defaultLatencyBuckets,
                proofCapacity: Int = MetricsCollector.defaultProofCapacity) {
        self.clock = clock
        self.startTime = clock()
        self.latencyBuckets = latencyBuckets.sorted()
        self.proofCapacity = max(proofCapacity, 0)
        self.bucketCounts = Array(repeating: 0, count: latencyBuckets.count)
    }

    private func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    // MARK: Recording

    /// Records one finished request that produced `tokens` tokens in `latencySeconds`.
    public func record(tokens: Int, latencySeconds: Double) {
        let latency = latencySeconds.isFinite ? max(latencySeconds, 0) : 0
        withLock {
            tokensProcessed += max(tokens, 0)
            requestCount += 1
            totalLatencySeconds += latency
            if let bucket = latencyBuckets.firstIndex(where: { latency <= $0 }) { bucketCounts[bucket] += 1 }
        }
    }

    /// Counts one oracle report that was accepted (`true`) or failed (`false`).
    public func recordReport(success: Bool) {
        withLock { if success { reportSuccesses += 1 } else { reportFailures += 1 } }
    }

    /// Sets the number of open inference sessions (set by the shard server).
    public func setOpenSessions(_ count: Int) { withLock { openSessions = max(count, 0) } }

    /// Sets the KV cache memory in use and its budget, in bytes (set by the shard server).
    public func setCacheUsage(usedBytes: Int, capacityBytes: Int) {
        withLock {
            cacheUsedBytes = max(usedBytes, 0)
            cacheCapacityBytes = max(capacityBytes, 0)
        }
    }

    /// Reads the session and cache gauges from `source` at every snapshot, so they are current
    /// when scraped instead of sampled on a timer.
    public func setGaugeSource(_ source: @escaping GaugeSource) { withLock { gaugeSource = source } }

    // MARK: Proofs

    /// Adds a proof; when the buffer is full the oldest proof is dropped and counted. A proof of
    /// no tokens is not kept: the oracle refuses it (InferenceProofDto tokenCount @Min(1)).
    public func addProof(_ proof: InferenceProof) {
        guard proof.tokenCount >= 1 else { return }
        withLock {
            proofs.append(proof)
            trimProofs()
        }
    }

    /// Removes and returns every buffered proof, oldest first (for a report).
    public func takeProofs() -> [InferenceProof] {
        withLock {
            let taken = proofs
            proofs.removeAll(keepingCapacity: true)
            return taken
        }
    }

    /// Puts proofs taken for a report that failed back in front of any added since, keeping
    /// their order; beyond the capacity the oldest are dropped and counted.
    public func returnProofs(_ returned: [InferenceProof]) {
        guard !returned.isEmpty else { return }
        withLock {
            proofs.insert(contentsOf: returned, at: 0)
            trimProofs()
        }
    }

    /// Counts proofs the oracle refused with their report (they are not sent again).
    public func recordRefusedProofs(_ count: Int) { withLock { proofsRefused += max(count, 0) } }

    private func trimProofs() {
        let excess = proofs.count - proofCapacity
        if excess > 0 {
            proofs.removeFirst(excess)
            proofsDropped += excess
        }
    }

    // MARK: Reading

    /// A consistent copy of every counter at this moment.
    public func snapshot() -> MetricsSnapshot {
        // Outside the lock: the source takes the server's own locks.
        if let gauges = withLock({ gaugeSource })?() {
            setOpenSessions(gauges.sessions)
            setCacheUsage(usedBytes: gauges.usedBytes, capacityBytes: gauges.capacityBytes)
        }
        let now = clock()
        return withLock {
            let uptime = max(now - startTime, 0)
            var cumulative = 0
            var buckets: [MetricsSnapshot.Bucket] = []
            for (bound, count) in zip(latencyBuckets, bucketCounts) {
                cumulative += count
                buckets.append(.init(upperBound: bound, count: cumulative))
            }
            return MetricsSnapshot(
                tokensProcessed: tokensProcessed,
                requestCount: requestCount,
                totalLatencySeconds: totalLatencySeconds,
                averageLatencySeconds: requestCount > 0 ? totalLatencySeconds / Double(requestCount) : 0,
                uptimeSeconds: uptime,
                tokensPerSecond: totalLatencySeconds > 0 ? Double(tokensProcessed) / totalLatencySeconds : 0,
                latencyBuckets: buckets,
                reportSuccesses: reportSuccesses,
                reportFailures: reportFailures,
                openSessions: openSessions,
                cacheUsedBytes: cacheUsedBytes,
                cacheCapacityBytes: cacheCapacityBytes,
                pendingProofs: proofs.count,
                proofsDropped: proofsDropped,
                proofsRefused: proofsRefused)
        }
    }
}

/// The counters of a ``MetricsCollector`` at one moment. Cumulative since node start.
public struct MetricsSnapshot: Codable, Equatable, Sendable {
    /// One cumulative histogram bucket: requests with latency ≤ `upperBound` seconds.
    public struct Bucket: Codable, Equatable, Sendable {
        public var upperBound: Double
        public var count: Int
    }

    public var tokensProcessed: Int
    public var requestCount: Int
    public var totalLatencySeconds: Double
    public var averageLatencySeconds: Double
    public var uptimeSeconds: Double
    /// Tokens per second of generation time (tokens ÷ total latency); 0 before any request.
    public var tokensPerSecond: Double
    /// Cumulative buckets in ascending order; the +Inf bucket is `requestCount`.
    public var latencyBuckets: [Bucket]
    public var reportSuccesses: Int
    public var reportFailures: Int
    public var openSessions: Int
    public var cacheUsedBytes: Int
    public var cacheCapacityBytes: Int
    public var pendingProofs: Int
    public var proofsDropped: Int
    /// Proofs dropped because the oracle refused the report that carried them.
    public var proofsRefused: Int

    /// Average latency in whole milliseconds, as the oracle report wants it.
    public var averageLatencyMilliseconds: Double { averageLatencySeconds * 1000 }
}
