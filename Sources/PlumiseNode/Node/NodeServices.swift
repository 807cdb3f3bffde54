import Foundation
import Logging
import PetalsSwarm
import ServiceLifecycle

/// A repeating task as a lifecycle service: `body` every `interval` seconds (the first run at
/// once when `runAtStart`), until graceful shutdown. Errors are logged, never fatal: the chain
/// or the oracle being away must not stop the node.
struct PeriodicService: Service {
    let name: String
    let interval: Double
    let runAtStart: Bool
    let logger: Logger
    let body: @Sendable () async throws -> Void

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var first = runAtStart
            while !Task.isCancelled {
                if !first { try await Task.sleep(nanoseconds: UInt64(interval * 1e9)) }
                first = false
                do {
                    try await body()
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("\(name) failed (will retry in \(Int(interval)) s): \(error)")
                }
            }
        }
    }
}

/// The oracle reporter as a service: reports every interval, and once more on shutdown.
struct ReporterService: Service {
    let reporter: OracleReporter

    func run() async throws {
        // Cancelled on shutdown, reporter.run() stops its loop and sends the final report.
        try? await cancelWhenGracefulShutdown { await reporter.run() }
    }
}

/// The shard server as a service: listening until graceful shutdown, then closed.
struct ShardServerService: Service {
    let server: ShardServer

    func run() async throws {
        try? await gracefulShutdown()
        server.stop()
    }
}
