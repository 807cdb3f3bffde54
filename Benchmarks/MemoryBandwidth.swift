import CKernels
import PetalsModel

/// A STREAM-style read test: how fast the pool's threads can stream a buffer much larger than
/// the caches. This is the physical ceiling for memory-bound decode.
enum MemoryBandwidth {
    private final class Job {
        let data: UnsafePointer<Float>
        let count: Int
        /// One slot per thread, raw so threads never contend on a Swift array's exclusivity.
        let sums: UnsafeMutablePointer<Float>
        let threads: Int
        init(data: UnsafePointer<Float>, count: Int, threads: Int) {
            self.data = data
            self.count = count
            self.threads = threads
            sums = .allocate(capacity: threads)
            sums.initialize(repeating: 0, count: threads)
        }
        deinit { sums.deallocate() }
    }

    /// Bytes per second read, best of `repetitions`.
    static func measure(pool: ComputePool, megabytes: Int = 512, repetitions: Int = 5) -> Double {
        let count = megabytes * 1024 * 1024 / MemoryLayout<Float>.size
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        for i in 0..<count { buffer[i] = Float(i & 1023) }
        let job = Job(data: buffer, count: count, threads: pool.threads)
        let context = Unmanaged.passUnretained(job).toOpaque()
        var best = 0.0
        for _ in 0..<repetitions {
            let seconds = timed {
                // Each task sums a 1 MiB chunk with 8 independent accumulators (vectorised in release).
                let chunk = 262_144
                ck_pool_run(pool.raw, Int64((count + chunk - 1) / chunk), 1, { ctx, begin, end, thread in
                    let job = Unmanaged<Job>.fromOpaque(ctx!).takeUnretainedValue()
                    var acc = SIMD8<Float>()
                    let chunk = 262_144
                    for c in Int(begin)..<Int(end) {
                        let start = c * chunk, stop = min(start + chunk, job.count)
                        var i = start
                        while i + 8 <= stop {
                            acc += UnsafeRawPointer(job.data + i).loadUnaligned(as: SIMD8<Float>.self)
                            i += 8
                        }
                    }
                    job.sums[Int(thread)] += acc.sum()
                }, context)
            }
            best = max(best, Double(count * MemoryLayout<Float>.size) / seconds)
        }
        precondition((0..<job.threads).reduce(Float(0)) { $0 + job.sums[$1] } > 0, "bandwidth test read nothing")
        return best
    }
}
