import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import PlumiseChain

/// Sends the node's signed metrics and proofs to the oracle every `interval` seconds, as
/// plumise-oracle takes them (src/modules/metrics: metrics.controller.ts, metrics.service.ts).
///
/// - Timestamps strictly increase from report to report (its monotonic guard refuses anything
///   else).
/// - Nothing is sent before the agent is registered on chain (`isRegistered`): the oracle refuses
///   reports of unregistered agents with a 400, and the proofs wait in the buffer meanwhile.
/// - What the oracle refuses (4xx) is final: the report's proofs are dropped, its message logged
///   and the drop counted; re-sending them would only be refused again and take every later
///   report down with them. Network errors and 5xx keep the proofs for the next report.
/// - tokensProcessed stays within the oracle's bound of 1e9 (nodes.service.ts
///   MAX_TOKENS_PER_REPORT) on a node that runs for ever: see ``TokenWindow``.
public final class OracleReporter: Sendable {
    public let endpoint: String
    public let interval: Double
    private let wallet: Wallet
    private let metrics: MetricsCollector
    private let logger: Logger
    private let lastTimestamp = LockedValue(0)
    private let window = LockedValue(TokenWindow())
    private let timeoutSeconds: Int64
    private let isRegistered: @Sendable () -> Bool

    public init(oracleURL: String, wallet: Wallet, metrics: MetricsCollector, interval: Double,
                timeoutSeconds: Int64 = 10, logger: Logger = Logger(label: "plumise.oracle"),
                isRegistered: @escaping @Sendable () -> Bool = { true }) {
        var base = oracleURL
        while base.hasSuffix("/") { base.removeLast() }
        endpoint = base + "/api/v1/metrics/report"
        self.wallet = wallet
        self.metrics = metrics
        self.interval = interval
        self.timeoutSeconds = timeoutSeconds
        self.logger = logger
        self.isRegistered = isRegistered
    }

    /// The next timestamp: the current Unix second, or one more than the last one sent.
    func nextTimestamp() -> Int {
        lastTimestamp.update { last in
            let next = max(Int(Date().timeIntervalSince1970), last + 1)
            last = next
            return next
        }
    }

    /// What became of one report.
    public enum Outcome: Equatable, Sendable {
        case accepted
        /// Not sent: the agent is not registered on chain yet.
        case notRegistered
        /// The oracle refused it (HTTP status, its message); its proofs were dropped.
        case refused(status: Int, message: String)
        /// Network error or 5xx; its proofs wait for the next report.
        case failed(String)
    }

    /// Builds, signs and sends one report.
    @discardableResult
    public func reportOnce() async -> Outcome {
        guard isRegistered() else {
            logger.debug("oracle report skipped: the agent is not registered on chain yet")
            return .notRegistered
        }
        let proofs = metrics.takeProofs()
        let snapshot = metrics.snapshot()
        let tokens = window.update { $0.reported(cumulative: snapshot.tokensProcessed) }
        let outcome: Outcome
        do {
            let report = try OracleReport.signed(by: wallet, snapshot: snapshot, tokensProcessed: tokens,
                                                 timestamp: nextTimestamp(), proofs: proofs)
            outcome = try await send(report)
        } catch {
            outcome = .failed("\(error)")
        }
        switch outcome {
        case .accepted:
            window.update { $0.accepted(cumulative: snapshot.tokensProcessed) }
        case .refused(let status, let message):
            logger.warning("oracle refused the report (HTTP \(status)): \(message); \(proofs.count) proofs dropped")
            metrics.recordRefusedProofs(proofs.count)
        case .failed(let reason):
            logger.warning("oracle report failed, will retry with its \(proofs.count) proofs: \(reason)")
            metrics.returnProofs(proofs)
        case .notRegistered:
            metrics.returnProofs(proofs)
        }
        metrics.recordReport(success: outcome == .accepted)
        return outcome
    }

    private func send(_ report: OracleReport) async throws -> Outcome {
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(report)))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeoutSeconds))
        let body = try await response.body.collect(upTo: 1 << 20)
        let status = Int(response.status.code)
        let answer = try? JSONDecoder().decode([String: JSONValue].self, from: Data(buffer: body))
        switch status {
        case 200..<300:
            // plumise-agent also treats a 2xx {"status": "error"} as a refusal (chain/reporter.py).
            if answer?["status"]?.string == "error" || answer?["success"]?.bool == false {
                return .refused(status: status, message: Self.message(answer) ?? "no reason given")
            }
            return .accepted
        case 400..<500:
            return .refused(status: status, message: Self.message(answer) ?? String(buffer: body).prefix(300).description)
        default:
            return .failed("oracle answered HTTP \(status): \(String(buffer: body).prefix(200))")
        }
    }

    /// NestJS's error body: {statusCode, message: string | [string], error}.
    static func message(_ answer: [String: JSONValue]?) -> String? {
        guard let answer else { return nil }
        if case .array(let items)? = answer["message"] { return items.compactMap(\.string).joined(separator: "; ") }
        return answer["message"]?.string ?? answer["error"]?.string
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

/// The cumulative token count a report carries, kept within the oracle's bound.
///
/// plumise-oracle refuses tokensProcessed above 1e9 (nodes.service.ts validateTokensProcessed)
/// and counts the delta of cumulative values, treating a value below the last one as a restart
/// of the agent's counter whose whole value is new work (metrics.service.ts recordMetrics). So
/// when the count since this window's start would pass the bound, the window restarts at the
/// last accepted report: the next report carries only the tokens since, which the oracle counts
/// in full. Requests are not windowed: the oracle has no bound on them.
struct TokenWindow: Equatable {
    static let maximum = 1_000_000_000
    private(set) var base = 0
    private(set) var lastAccepted = 0

    /// The value to report for `cumulative` tokens since node start.
    mutating func reported(cumulative: Int) -> Int {
        if cumulative - base > Self.maximum {
            base = max(lastAccepted, cumulative - Self.maximum)
        }
        return cumulative - base
    }

    mutating func accepted(cumulative: Int) { lastAccepted = cumulative }
}

/// A value behind a lock.
final class LockedValue<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func update<R>(_ body: (inout T) -> R) -> R { lock.withLock { body(&value) } }
    var current: T { lock.withLock { value } }
}
