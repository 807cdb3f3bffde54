import CKernels
import PetalsModel

/// A STREAM-style read test: how fast the pool's threads can stream a buffer much larger than
/// the caches. This is the physical ceiling for memory-bound decode.
enum MemoryBandwidth {
    /// Bytes per second read, best of `repetitions`.
    static func measure(pool: ComputePool, megabytes: Int = 512, repetitions: Int = 5) -> Double {
        let count = megabytes * 1024 * 1024 / MemoryLayout<Float>.size
        // In the memory the model's weights live in (huge pages), so the ceiling and the
        // kernels' streams see the same TLB and prefetcher behaviour.
        let bytes = count * MemoryLayout<Float>.size
        guard let raw = ck_weights_alloc(bytes) else { fatalError("out of memory for the bandwidth test's \(megabytes) MB") }
        defer { ck_weights_free(raw, bytes) }
        let buffer = raw.bindMemory(to: Float.self, capacity: count)
        for i in 0..<count { buffer[i] = Float(i & 1023) }
        var best = 0.0, sum = 0.0
        for _ in 0..<repetitions {
            let seconds = timed { sum += ck_sum_pool(pool.raw, buffer, Int64(count)) }
            best = max(best, Double(bytes) / seconds)
        }
        precondition(sum > 0, "bandwidth test read nothing")
        return best
    }
}
