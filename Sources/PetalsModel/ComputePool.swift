import CKernels

/// The persistent worker threads every kernel call of a node runs on (one job at a time).
public final class ComputePool: @unchecked Sendable {
    /// The C pool, for code that calls CKernels directly (benchmarks, servers).
    public let raw: OpaquePointer

    /// `threads` <= 0 uses every online CPU.
    public init(threads: Int = 0) {
        raw = ck_pool_create(Int32(threads))
    }

    deinit { ck_pool_destroy(raw) }

    public var threads: Int { Int(ck_pool_threads(raw)) }

    /// Lets the workers sleep until the next job instead of spinning: call before waiting on
    /// the network, where spinning would only take CPU from the other nodes on this machine.
    public func park() { ck_pool_park(raw) }
}
