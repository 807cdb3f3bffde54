import Foundation
import PetalsModel

/// The API's part of a graceful shutdown: once it begins, no further generation starts (a
/// queued one is refused with 503), running ones may finish for `grace` seconds, and after
/// that they stop between two steps; their clients get a "shutting down" error after what was
/// already streamed. So a node stops in bounded time and the final oracle report, sent after
/// the API has drained, carries the proofs of the generations that finished.
public final class ShutdownDrain: @unchecked Sendable {
    private let lock = NSLock()
    private var started = false
    private var expired = false

    public init() {}

    /// No new generation is started.
    public var isDraining: Bool { lock.withLock { started } }
    /// Running generations are stopped.
    public var isExpired: Bool { lock.withLock { expired } }

    /// Starts draining; `grace` seconds later running generations are stopped. Only the first
    /// call counts.
    public func begin(grace: Double) {
        let first: Bool = lock.withLock {
            defer { started = true }
            return !started
        }
        guard first else { return }
        if grace <= 0 { return expire() }
        Thread.detachNewThread { [self] in
            Thread.sleep(forTimeInterval: grace)
            expire()
        }
    }

    func expire() { lock.withLock { expired = true } }
}

/// Why a generation was refused or stopped while the node shuts down.
struct ShuttingDown: Error, CustomStringConvertible {
    /// Tokens generated before it was stopped; nil when it never started.
    let tokens: Int?

    var description: String {
        if let tokens { return "the node is shutting down: the generation was stopped after \(tokens) tokens" }
        return "the node is shutting down"
    }
}
