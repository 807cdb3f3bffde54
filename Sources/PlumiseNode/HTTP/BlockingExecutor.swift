import Dispatch

/// Runs blocking, CPU-bound work (a generation) on one dedicated serial queue, off Swift's
/// cooperative thread pool, and streams the text it emits back to an async callback in order.
public final class BlockingExecutor: Sendable {
    private let queue: DispatchQueue

    public init(label: String = "plumise.generation") {
        queue = DispatchQueue(label: label, qos: .userInitiated)
    }

    /// Runs `work` on the executor's thread. `work` gets an `emit` function to call (from that
    /// thread) with each piece of text; every piece reaches `onText` before this returns.
    public func run<Result: Sendable>(
        onText: @escaping @Sendable (String) async -> Void = { _ in },
        _ work: @escaping @Sendable (_ emit: @escaping @Sendable (String) -> Void) throws -> Result
    ) async throws -> Result {
        let (pieces, continuation) = AsyncStream<String>.makeStream()
        async let result: Result = withCheckedThrowingContinuation { (done: CheckedContinuation<Result, Error>) in
            queue.async {
                defer { continuation.finish() }
                do {
                    done.resume(returning: try work { continuation.yield($0) })
                } catch {
                    done.resume(throwing: error)
                }
            }
        }
        for await piece in pieces { await onText(piece) }
        return try await result
    }
}
