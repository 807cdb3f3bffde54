import Foundation

/// Runs blocking, CPU-bound work (a generation) on a thread of its own, off Swift's cooperative
/// thread pool, and streams the text it emits back to an async callback in order. Calls run
/// concurrently: each gets its own thread (a generation mostly waits for its shard's scheduler).
public final class BlockingExecutor: Sendable {
    private let label: String

    public init(label: String = "plumise.generation") {
        self.label = label
    }

    /// Runs `work` on a new thread. `work` gets an `emit` function to call (from that thread)
    /// with each piece of text; every piece reaches `onText` before this returns.
    public func run<Result: Sendable>(
        onText: @escaping @Sendable (String) async -> Void = { _ in },
        _ work: @escaping @Sendable (_ emit: @escaping @Sendable (String) -> Void) throws -> Result
    ) async throws -> Result {
        let (pieces, continuation) = AsyncStream<String>.makeStream()
        async let result: Result = withCheckedThrowingContinuation { (done: CheckedContinuation<Result, Error>) in
            let thread = Thread {
                defer { continuation.finish() }
                do {
                    done.resume(returning: try work { continuation.yield($0) })
                } catch {
                    done.resume(throwing: error)
                }
            }
            thread.name = label
            thread.start()
        }
        for await piece in pieces { await onText(piece) }
        return try await result
    }
}
