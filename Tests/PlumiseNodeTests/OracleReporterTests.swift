import Foundation
import PetalsTestSupport
import PlumiseChain
import PlumiseNode
import XCTest

/// The reporter against a small local oracle that verifies every report's signature with the
/// chain module's recovery, as the real oracle does.
final class OracleReporterTests: XCTestCase {
    private let wallet = try! Wallet(privateKey: "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")

    private func proof(_ n: Int) -> InferenceProof {
        InferenceProof(modelName: "m", input: "prompt \(n)", output: "output \(n)", agent: wallet.address, tokenCount: n)
    }

    func testSignedReportsCarryTheCountersAndTheProofs() async throws {
        let oracle = TestOracle()
        let server = try TestHTTPServer { oracle.handle($0) }
        defer { server.stop() }
        let metrics = MetricsCollector()
        metrics.record(tokens: 10, latencySeconds: 0.5)
        metrics.record(tokens: 5, latencySeconds: 1.5)
        metrics.addProof(proof(1))
        metrics.addProof(proof(2))
        let reporter = OracleReporter(oracleURL: server.url + "/", wallet: wallet, metrics: metrics, interval: 60)
        let accepted = await reporter.reportOnce()
        XCTAssertEqual(accepted, .accepted)
        let report = try XCTUnwrap(oracle.accepted.first)
        XCTAssertEqual(report.wallet, wallet.address.description)
        XCTAssertEqual(report.tokensProcessed, 15)
        XCTAssertEqual(report.requestCount, 2)
        XCTAssertEqual(report.avgLatencyMs, 1000, accuracy: 0.001)
        XCTAssertEqual(report.proofs, [proof(1).reported, proof(2).reported])
        XCTAssertEqual(report.canonicalMessage,
                       "{\"agent\":\"\(wallet.address)\",\"processed_tokens\":15,\"timestamp\":\(report.timestamp)}")
        XCTAssertEqual(metrics.snapshot().pendingProofs, 0)
        XCTAssertEqual(metrics.snapshot().reportSuccesses, 1)
    }

    /// A server fault (5xx) keeps the proofs for the next report; a refusal (here a 2xx
    /// {"status": "error"}, which plumise-agent also counts as refused) drops them: sent again
    /// they would be refused again, and every later report with them.
    func testServerFaultsKeepTheProofsRefusalsDropThemAndReportingRecovers() async throws {
        let oracle = TestOracle()
        let server = try TestHTTPServer { oracle.handle($0) }
        defer { server.stop() }
        let metrics = MetricsCollector()
        let reporter = OracleReporter(oracleURL: server.url, wallet: wallet, metrics: metrics, interval: 60)
        metrics.addProof(proof(1))
        oracle.lock.withLock { oracle.mode = "http500" }
        var outcome = await reporter.reportOnce()
        guard case .failed = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(metrics.snapshot().pendingProofs, 1)
        oracle.lock.withLock { oracle.mode = "ok" }
        outcome = await reporter.reportOnce()
        XCTAssertEqual(outcome, .accepted)
        XCTAssertEqual(oracle.accepted.first?.proofs, [proof(1).reported], "the kept proof went with the next report")

        metrics.addProof(proof(2))
        oracle.lock.withLock { oracle.mode = "status-error" }
        outcome = await reporter.reportOnce()
        XCTAssertEqual(outcome, .refused(status: 200, message: "rejected"))
        XCTAssertEqual(metrics.snapshot().pendingProofs, 0)
        XCTAssertEqual(metrics.snapshot().proofsRefused, 1)
        XCTAssertEqual(metrics.snapshot().reportFailures, 2)

        oracle.lock.withLock { oracle.mode = "ok" }
        outcome = await reporter.reportOnce()
        XCTAssertEqual(outcome, .accepted)
        XCTAssertNil(oracle.accepted.last?.proofs, "nothing sent twice, nothing refused sent again")
        let timestamps = oracle.accepted.map(\.timestamp)
        XCTAssertEqual(timestamps, timestamps.sorted())
        XCTAssertEqual(Set(timestamps).count, timestamps.count, "strictly increasing")
    }

    func testAnUnreachableOracleIsAFailureNotACrash() async throws {
        let metrics = MetricsCollector()
        metrics.addProof(proof(3))
        let reporter = OracleReporter(oracleURL: "http://127.0.0.1:1", wallet: wallet, metrics: metrics, interval: 60,
                                      timeoutSeconds: 2)
        let outcome = await reporter.reportOnce()
        guard case .failed = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(metrics.snapshot().pendingProofs, 1)
    }

    func testTheRunLoopSendsAFinalReportWhenCancelled() async throws {
        let oracle = TestOracle()
        let server = try TestHTTPServer { oracle.handle($0) }
        defer { server.stop() }
        let metrics = MetricsCollector()
        let reporter = OracleReporter(oracleURL: server.url, wallet: wallet, metrics: metrics, interval: 0.2)
        let task = Task { await reporter.run() }
        try await Task.sleep(nanoseconds: 700_000_000)
        metrics.addProof(proof(9))
        task.cancel()
        await task.value
        XCTAssertGreaterThanOrEqual(oracle.accepted.count, 3)
        XCTAssertEqual(oracle.accepted.last?.proofs, [proof(9).reported])
    }

    func testTheProofBufferKeepsTheNewestThousand() {
        let metrics = MetricsCollector()
        for n in 1...1005 { metrics.addProof(proof(n)) }
        XCTAssertEqual(metrics.snapshot().pendingProofs, 1000)
        XCTAssertEqual(metrics.snapshot().proofsDropped, 5)
        XCTAssertEqual(metrics.takeProofs().first, proof(6))
        // A generation of no tokens has no proof (the oracle's @Min(1)); nothing is buffered.
        metrics.addProof(proof(0))
        XCTAssertEqual(metrics.snapshot().pendingProofs, 0)
    }
}
