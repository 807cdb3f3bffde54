import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import PlumiseChain

/// Sends the node's signed metrics and proofs to the oracle every `interval` seconds.
///
/// Timestamps strictly increase from report to report (the oracle rejects anything else). A
/// report counts as failed on a network error, a non-2xx status or a body with
/// "status": "error"; its proofs go back into the buffer for the next attempt, so none is lost.
/// An unreachable oracle never stops the node: failures are logged and counted.
public final class OracleReporter: Sendable {
    public let endpoint: String
    public let interval: Double
    private let wallet: Wallet
    private let metrics: MetricsCollector
    private let logger: Logger
    private let lastTimestamp = LockedValue(0)
    private let timeoutSeconds: Int64

    public init(oracleURL: String, wallet: Wallet, metrics: MetricsCollector, interval: Double,
                timeoutSeconds: Int64 = 10, logger: Logger = Logger(label: "plumise.oracle")) {
        var base = oracleURL
        while base.hasSuffix("/") { base.removeLast() }
        endpoint = base + "/api/v1/metrics/report"
        self.wallet = wallet
        self.metrics = metrics
        self.interval = interval
        self.timeoutSeconds = timeoutSeconds
        self.logger = logger
    }

    /// The next timestamp: the current Unix second, or one more than the last one sent.
    func nextTimestamp() -> Int {
        lastTimestamp.update { last in
            let next = max(Int(Date().timeIntervalSince1970), last + 1)
            last = next
            return next
        }
    }

    /// Builds, signs and sends one report; returns whether the oracle accepted it.
    @discardableResult
    public func reportOnce() async -> Bool {
        let proofs = metrics.takeProofs()
        let accepted: Bool
        do {
            let report = try OracleReport.signed(by: wallet, snapshot: metrics.snapshot(), timestamp: nextTimestamp(),
                                                 proofs: proofs)
            accepted = try await send(report)
        } catch {
            logger.warning("oracle report failed: \(error)")
            accepted = false
        }
        if !accepted { metrics.returnProofs(proofs) }
        metrics.recordReport(success: accepted)
        return accepted
    }

    private func send(_ report: OracleReport) async throws -> Bool {
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(report)))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeoutSeconds))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard (200..<300).contains(Int(response.status.code)) else {
            logger.warning("oracle answered HTTP \(response.status.code): \(String(buffer: body).prefix(200))")
            return false
        }
        if let answer = try? JSONDecoder().decode([String: JSONValue].self, from: Data(buffer: body)),
           answer["status"]?.string == "error" {
            logger.warning("oracle refused the report: \(answer["message"]?.string ?? answer["error"]?.string ?? "no reason")")
            return false
        }
        return true
    }

    /// Reports every `interval` seconds until cancelled, then sends a final report.
    public func run() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(nanoseconds: UInt64(interval * 1e9))
            } catch {
                break
            }
            await reportOnce()
        }
        // The final report on shutdown, outside the cancelled task (or its request would be
        // cancelled before it is sent).
        await Task.detached { await self.reportOnce() }.value
    }
}

/// A value behind a lock.
final class LockedValue<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func update<R>(_ body: (inout T) -> R) -> R { lock.withLock { body(&value) } }
    var current: T { lock.withLock { value } }
}
