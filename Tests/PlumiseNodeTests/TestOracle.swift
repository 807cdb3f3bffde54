import Foundation
import PetalsTestSupport
import PlumiseChain
import PlumiseNode

/// A stand-in for the Plumise Oracle on 127.0.0.1: verifies every report's signature with the
/// chain module's recovery and the strictly increasing timestamps, as the real oracle does.
final class TestOracle: @unchecked Sendable {
    let lock = NSLock()
    var accepted: [OracleReport] = []
    var mode = "ok" // "ok", "http500", "status-error"
    var lastTimestamp = 0

    func handle(_ request: TestHTTPServer.Request) -> (status: Int, body: String) {
        lock.withLock {
            guard request.method == "POST", request.path == "/api/v1/metrics/report" else { return (404, "{}") }
            switch mode {
            case "http500": return (500, "{\"error\":\"down\"}")
            case "status-error": return (200, "{\"status\":\"error\",\"message\":\"rejected\"}")
            default: break
            }
            guard let report = try? JSONDecoder().decode(OracleReport.self, from: request.body),
                  let signer = try? report.signer(), signer.description == report.wallet else {
                return (401, "{\"status\":\"error\",\"message\":\"bad signature\"}")
            }
            guard report.timestamp > lastTimestamp else { return (400, "{\"status\":\"error\",\"message\":\"stale\"}") }
            lastTimestamp = report.timestamp
            accepted.append(report)
            return (200, "{\"status\":\"ok\"}")
        }
    }

    /// The accepted reports so far.
    var reports: [OracleReport] { lock.withLock { accepted } }
}
