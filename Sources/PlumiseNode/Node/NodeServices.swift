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
        await cancelWhenGracefulShutdown { await reporter.run() }
    }
}

/// The shard server as a service: loaded and listening once started (the load runs on its own
/// thread: it is seconds of blocking work), closed on graceful shutdown.
struct ShardServerService: Service {
    let load: @Sendable () throws -> ShardServer

    func run() async throws {
        let server = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try load() }) }
        }
        try? await gracefulShutdown()
        server.stop()
    }
}

/// The HTTP API as a service: on graceful shutdown Hummingbird stops accepting connections and
/// waits for the requests in flight, which the API's drain bounds.
struct APIService<App: Service>: Service {
    let app: App
    let api: HTTPAPI

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await app.run()
        } onGracefulShutdown: { [api] in
            api.logger.info("HTTP API: no new generations; running ones have \(api.configuration.shutdownGraceSeconds) s to finish")
            api.drain.begin(grace: api.configuration.shutdownGraceSeconds)
        }
    }
}

/// The oracle announcer as a service: runs until graceful shutdown.
struct AnnouncerService: Service {
    let body: @Sendable () async -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown { await body() }
    }
}

/// Announces readiness once both the shard server and the HTTP API listen.
final class ReadyLatch: @unchecked Sendable {
    private let lock = NSLock()
    private var address: String?
    private var port: Int?
    private let onReady: @Sendable (String, Int) -> Void

    init(_ onReady: @escaping @Sendable (String, Int) -> Void) { self.onReady = onReady }

    func shardAddress(_ value: String) { update { address = value } }
    func apiPort(_ value: Int) { update { port = value } }

    private func update(_ body: () -> Void) {
        let both: (String, Int)? = lock.withLock {
            let wasComplete = address != nil && port != nil
            body()
            guard !wasComplete, let address, let port else { return nil }
            return (address, port)
        }
        if let both { onReady(both.0, both.1) }
    }
}
