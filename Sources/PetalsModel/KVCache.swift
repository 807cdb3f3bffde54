/// Keys and values of past positions for the blocks of one shard.
///
/// Stored as F16 like llama.cpp's default cache (half the memory of f32, and the same
/// rounding), or as F32 for shards whose weights are all F32 (or BF16, widened to F32): there
/// attention runs in f32 throughout, as transformers computes it for float32 models.
public final class KVCache: @unchecked Sendable {
    public enum Precision: String, Sendable {
        case f16, f32

        public var bytesPerElement: Int { self == .f16 ? 2 : 4 }
    }

    public let layers: Int
    public let capacity: Int
    public let rowWidth: Int
    public let precision: Precision
    /// Positions [0, count) hold valid keys and values.
    public private(set) var count = 0
    /// Per layer: capacity rows of rowWidth elements of `precision`.
    let keys: [UnsafeMutableRawPointer]
    let values: [UnsafeMutableRawPointer]

    public init(layers: Int, capacity: Int, rowWidth: Int, precision: Precision = .f16) {
        self.layers = layers
        self.capacity = capacity
        self.rowWidth = rowWidth
        self.precision = precision
        let bytes = max(capacity * rowWidth, 1) * precision.bytesPerElement
        keys = (0..<layers).map { _ in .allocate(byteCount: bytes, alignment: 64) }
        values = (0..<layers).map { _ in .allocate(byteCount: bytes, alignment: 64) }
    }

    deinit {
        keys.forEach { $0.deallocate() }
        values.forEach { $0.deallocate() }
    }

    /// Bytes held by this cache.
    public var byteCount: Int { 2 * layers * capacity * rowWidth * precision.bytesPerElement }

    public var remaining: Int { capacity - count }

    func advance(by n: Int) { count += n }

    /// Forgets positions from `position` on (used to roll back or replay a span).
    public func truncate(to position: Int) {
        precondition(position >= 0 && position <= count, "truncate beyond the cache")
        count = position
    }
}
