/// Keys and values of past positions for the blocks of one shard, stored as F16 like
/// llama.cpp's default cache (half the memory of f32, and the same rounding).
public final class KVCache: @unchecked Sendable {
    public let layers: Int
    public let capacity: Int
    public let rowWidth: Int
    /// Positions [0, count) hold valid keys and values.
    public private(set) var count = 0
    let keys: [UnsafeMutablePointer<UInt16>]
    let values: [UnsafeMutablePointer<UInt16>]

    public init(layers: Int, capacity: Int, rowWidth: Int) {
        self.layers = layers
        self.capacity = capacity
        self.rowWidth = rowWidth
        keys = (0..<layers).map { _ in .allocate(capacity: max(capacity * rowWidth, 1)) }
        values = (0..<layers).map { _ in .allocate(capacity: max(capacity * rowWidth, 1)) }
    }

    deinit {
        keys.forEach { $0.deallocate() }
        values.forEach { $0.deallocate() }
    }

    /// Bytes held by this cache.
    public var byteCount: Int { 2 * layers * capacity * rowWidth * MemoryLayout<UInt16>.size }

    public var remaining: Int { capacity - count }

    func advance(by n: Int) { count += n }

    /// Forgets positions from `position` on (used to roll back or replay a span).
    public func truncate(to position: Int) {
        precondition(position >= 0 && position <= count, "truncate beyond the cache")
        count = position
    }
}
