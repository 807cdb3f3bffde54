import Foundation

/// Keys and values of past positions of one sequence, for the blocks of one shard.
///
/// Stored as F16 like llama.cpp's default cache (half the memory of f32, and the same
/// rounding), or as F32 for shards whose weights are all F32 (or BF16, widened to F32): there
/// attention runs in f32 throughout, as transformers computes it for float32 models.
///
/// The memory is a list of pages (runs of `KVCachePool.pageRows` positions, every layer's keys
/// and values) lent by the shard's ``KVCachePool`` as the sequence grows; the sequence's whole
/// capacity is reserved in the pool when it opens, so a step never runs out of room. Freeing
/// the cache returns its pages and its reservation at once.
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
    let pool: KVCachePool
    private var pages: [UnsafeMutableRawPointer] = []
    /// Per layer, the key (value) rows' page addresses as the attention kernels take them:
    /// layer l's table starts at l * maxPages.
    let keyPages: UnsafeMutablePointer<UnsafeRawPointer?>
    let valuePages: UnsafeMutablePointer<UnsafeRawPointer?>
    private let maxPages: Int

    /// A cache of `capacity` positions reserved in `pool`; throws ModelError.cacheFull when the
    /// pool cannot hold that many more.
    public init(pool: KVCachePool, capacity: Int) throws {
        try pool.reserve(capacity)
        self.pool = pool
        self.capacity = capacity
        layers = pool.layers
        rowWidth = pool.rowWidth
        precision = pool.precision
        maxPages = max(1, (capacity + pool.pageRows - 1) / pool.pageRows)
        keyPages = .allocate(capacity: layers * maxPages)
        keyPages.initialize(repeating: nil, count: layers * maxPages)
        valuePages = .allocate(capacity: layers * maxPages)
        valuePages.initialize(repeating: nil, count: layers * maxPages)
    }

    /// A cache with a pool of its own, sized for exactly this sequence.
    public convenience init(layers: Int, capacity: Int, rowWidth: Int, precision: Precision = .f16) {
        let pool = KVCachePool(layers: layers, rowWidth: rowWidth, precision: precision, capacityTokens: capacity)
        // A pool sized for this one reservation cannot refuse it.
        try! self.init(pool: pool, capacity: capacity)
    }

    deinit {
        pool.giveBack(pages, reservation: capacity)
        keyPages.deallocate()
        valuePages.deallocate()
    }

    /// Bytes of the pages this cache holds now.
    public var byteCount: Int { pages.count * pool.pageBytes }

    public var remaining: Int { capacity - count }

    /// Makes room for positions [0, positions) (within the capacity), taking pages as needed.
    func ensure(positions: Int) {
        precondition(positions <= capacity, "cache grown beyond its reservation")
        let rows = pool.pageRows
        while pages.count * rows < positions {
            let page = pool.takePage()
            let index = pages.count
            pages.append(page)
            for layer in 0..<layers {
                keyPages[layer * maxPages + index] = UnsafeRawPointer(pool.keys(of: page, layer: layer))
                valuePages[layer * maxPages + index] = UnsafeRawPointer(pool.values(of: page, layer: layer))
            }
        }
    }

    /// The page tables of `layer` (keys, values) for the attention kernels.
    func pageTables(layer: Int) -> (UnsafePointer<UnsafeRawPointer?>, UnsafePointer<UnsafeRawPointer?>) {
        (UnsafePointer(keyPages + layer * maxPages), UnsafePointer(valuePages + layer * maxPages))
    }

    /// The key (value) row of `position` in `layer`: rowWidth elements of `precision`.
    func keyRow(layer: Int, position: Int) -> UnsafeMutableRawPointer {
        row(in: pool.keys(of: pages[position / pool.pageRows], layer: layer), position)
    }

    func valueRow(layer: Int, position: Int) -> UnsafeMutableRawPointer {
        row(in: pool.values(of: pages[position / pool.pageRows], layer: layer), position)
    }

    private func row(in run: UnsafeMutableRawPointer, _ position: Int) -> UnsafeMutableRawPointer {
        run + (position % pool.pageRows) * rowWidth * precision.bytesPerElement
    }

    func advance(by n: Int) { count += n }

    /// Forgets positions from `position` on (used to roll back or replay a span).
    public func truncate(to position: Int) {
        precondition(position >= 0 && position <= count, "truncate beyond the cache")
        count = position
    }
}

/// The KV-cache memory of one shard, lent in pages of `pageRows` positions (every layer's keys
/// and values) to the sequences it serves. `capacityTokens` (`--cache-tokens`) bounds the
/// positions reserved by open sequences; pages are allocated when first needed and reused after
/// a sequence frees them. Thread-safe.
public final class KVCachePool: @unchecked Sendable {
    /// Positions per page: a power of two (the attention kernels index pages by shifting).
    public static let defaultPageRows = 16

    public let layers: Int
    public let rowWidth: Int
    public let precision: KVCache.Precision
    public let pageRows: Int
    public let capacityTokens: Int
    /// Bytes of one page: keys and values of pageRows positions for every layer.
    public let pageBytes: Int

    private let lock = NSLock()
    private var reserved = 0
    private var free: [UnsafeMutableRawPointer] = []
    private var allocatedPages = 0
    private var lentPages = 0

    public init(layers: Int, rowWidth: Int, precision: KVCache.Precision, capacityTokens: Int,
                pageRows: Int = KVCachePool.defaultPageRows) {
        precondition(pageRows > 0 && pageRows & (pageRows - 1) == 0, "pageRows must be a power of two")
        self.layers = layers
        self.rowWidth = rowWidth
        self.precision = precision
        self.capacityTokens = capacityTokens
        self.pageRows = pageRows
        pageBytes = max(1, 2 * layers * pageRows * rowWidth * precision.bytesPerElement)
    }

    deinit { free.forEach { $0.deallocate() } }

    /// Positions reserved by open sequences.
    public var reservedTokens: Int { lock.withLock { reserved } }
    /// Positions a new sequence can still reserve.
    public var freeTokens: Int { lock.withLock { capacityTokens - reserved } }
    /// Bytes of pages lent to sequences now.
    public var bytesInUse: Int { lock.withLock { lentPages * pageBytes } }
    /// Bytes of pages allocated (lent or kept for reuse).
    public var bytesAllocated: Int { lock.withLock { allocatedPages * pageBytes } }

    func reserve(_ tokens: Int) throws {
        guard tokens >= 0 else { throw ModelError.invalidHyperparameters("a cache cannot hold \(tokens) positions") }
        try lock.withLock {
            guard tokens <= capacityTokens - reserved else {
                throw ModelError.cacheFull(requested: tokens, free: capacityTokens - reserved, capacity: capacityTokens)
            }
            reserved += tokens
        }
    }

    func takePage() -> UnsafeMutableRawPointer {
        lock.withLock {
            lentPages += 1
            if let page = free.popLast() { return page }
            allocatedPages += 1
            return .allocate(byteCount: pageBytes, alignment: 64)
        }
    }

    func giveBack(_ pages: [UnsafeMutableRawPointer], reservation: Int) {
        lock.withLock {
            free.append(contentsOf: pages)
            lentPages -= pages.count
            reserved -= reservation
        }
    }

    /// Layer `layer`'s keys (values) in `page`: pageRows rows of rowWidth elements.
    func keys(of page: UnsafeMutableRawPointer, layer: Int) -> UnsafeMutableRawPointer {
        page + (2 * layer) * pageBytes / (2 * layers)
    }

    func values(of page: UnsafeMutableRawPointer, layer: Int) -> UnsafeMutableRawPointer {
        page + (2 * layer + 1) * pageBytes / (2 * layers)
    }
}
