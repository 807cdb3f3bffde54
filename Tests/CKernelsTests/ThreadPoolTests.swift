import CKernels
import Foundation
import XCTest

final class ThreadPoolTests: XCTestCase {
    private final class Counts {
        let hits: UnsafeMutablePointer<Int32>
        /// Where a job may leave values the compiler must not optimise away.
        let sink: UnsafeMutablePointer<UInt64>
        let n: Int
        init(_ n: Int) {
            self.n = n
            hits = .allocate(capacity: n)
            hits.initialize(repeating: 0, count: n)
            sink = .allocate(capacity: n)
            sink.initialize(repeating: 0, count: n)
        }
        deinit {
            hits.deallocate()
            sink.deallocate()
        }
    }

    private func runAndCount(_ pool: OpaquePointer?, n: Int, grain: Int) -> [Int32] {
        let counts = Counts(n)
        ck_pool_run(pool, Int64(n), Int64(grain), { ctx, begin, end, _ in
            let counts = Unmanaged<Counts>.fromOpaque(ctx!).takeUnretainedValue()
            // Each index belongs to one chunk; a double run shows up as a count of 2.
            for i in Int(begin)..<Int(end) { counts.hits[i] += 1 }
        }, Unmanaged.passUnretained(counts).toOpaque())
        return Array(UnsafeBufferPointer(start: counts.hits, count: n))
    }

    func testParkedWorkersWakeForTheNextJob() {
        let pool = ck_pool_create(2)
        defer { ck_pool_destroy(pool) }
        for round in 0..<100 {
            ck_pool_park(pool)
            // Sometimes let the workers actually fall asleep before the next job arrives.
            if round % 10 == 0 { Thread.sleep(forTimeInterval: 0.002) }
            XCTAssertEqual(runAndCount(pool, n: 257, grain: 4), [Int32](repeating: 1, count: 257), "round \(round)")
        }
    }

    func testEveryIndexRunsExactlyOnceAcrossManyJobs() {
        let pool = ck_pool_create(2)
        defer { ck_pool_destroy(pool) }
        XCTAssertEqual(ck_pool_threads(pool), 2)
        for (n, grain) in [(1, 1), (7, 1), (1000, 16), (4097, 3), (10, 100)] {
            for _ in 0..<50 { XCTAssertEqual(runAndCount(pool, n: n, grain: grain), [Int32](repeating: 1, count: n), "n \(n) grain \(grain)") }
        }
    }

    func testJobsFromTwoThreadsAreSerialisedNotLost() {
        // The pool is shared by design (ck_pool serialises callers); the box says so to the compiler.
        struct SharedPool: @unchecked Sendable { let raw: OpaquePointer? }
        let pool = SharedPool(raw: ck_pool_create(2))
        defer { ck_pool_destroy(pool.raw) }
        let group = DispatchGroup()
        let failures = Counts(1)
        let lock = NSLock()
        for _ in 0..<2 {
            DispatchQueue.global().async(group: group) {
                var mismatches: Int32 = 0
                for _ in 0..<200 where self.runAndCount(pool.raw, n: 333, grain: 5) != [Int32](repeating: 1, count: 333) {
                    mismatches += 1
                }
                lock.lock()
                failures.hits[0] += mismatches
                lock.unlock()
            }
        }
        group.wait()
        XCTAssertEqual(failures.hits[0], 0)
    }

    private final class Ranges {
        let lock = NSLock()
        var ranges: [Range<Int>] = []
    }

    func testClaimsAreRunsOfWholeChunksLongFirstAndSingleChunksLast() {
        let pool = ck_pool_create(2)
        defer { ck_pool_destroy(pool) }
        let n = 1000, grain = 8
        let seen = Ranges()
        ck_pool_run(pool, Int64(n), Int64(grain), { ctx, begin, end, _ in
            let seen = Unmanaged<Ranges>.fromOpaque(ctx!).takeUnretainedValue()
            seen.lock.lock()
            seen.ranges.append(Int(begin)..<Int(end))
            seen.lock.unlock()
        }, Unmanaged.passUnretained(seen).toOpaque())

        // A claim takes a quarter (1 / (2 x 2 threads)) of the chunks still open, at least one,
        // whichever thread claims: the schedule depends only on n, the grain and the threads.
        var expected: [Range<Int>] = []
        var next = 0
        let chunks = (n + grain - 1) / grain
        while next < chunks {
            let take = max(1, (chunks - next) / 4)
            expected.append(next * grain..<min((next + take) * grain, n))
            next += take
        }
        let ranges = seen.ranges.sorted { $0.lowerBound < $1.lowerBound }
        XCTAssertEqual(ranges, expected)
        XCTAssertEqual(ranges.first?.count, 31 * grain, "the first claim is a long run")
        XCTAssertEqual(ranges.last?.count, n - (chunks - 1) * grain, "the last claim is the single, partial chunk")
        XCTAssertLessThan(ranges.count, chunks / 3, "far fewer claims than chunks")
    }

    func testMoreWorkersThanCoresStillRunEveryIndexOnce() {
        // Eight threads on this machine's few cores: workers get preempted holding claims, so the
        // caller waits past its spin and yields its core (ck_pool.c); and idle gaps longer than a
        // worker's spin put it to sleep between jobs.
        let pool = ck_pool_create(8)
        defer { ck_pool_destroy(pool) }
        for round in 0..<60 {
            if round % 6 == 0 { Thread.sleep(forTimeInterval: 0.001) }
            let counts = Counts(4001)
            ck_pool_run(pool, 4001, 7, { ctx, begin, end, _ in
                let counts = Unmanaged<Counts>.fromOpaque(ctx!).takeUnretainedValue()
                for i in Int(begin)..<Int(end) {
                    // A little work per index, so chunks are still running when the caller is done.
                    var x = UInt64(i)
                    for _ in 0..<200 { x = x &* 6364136223846793005 &+ 1442695040888963407 }
                    counts.sink[i] = x
                    counts.hits[i] += 1
                }
            }, Unmanaged.passUnretained(counts).toOpaque())
            XCTAssertEqual(Array(UnsafeBufferPointer(start: counts.hits, count: 4001)), [Int32](repeating: 1, count: 4001),
                           "round \(round)")
        }
    }

    func testAPoolOfOneRunsOnTheCallingThread() {
        let pool = ck_pool_create(1)
        defer { ck_pool_destroy(pool) }
        XCTAssertEqual(runAndCount(pool, n: 100, grain: 1), [Int32](repeating: 1, count: 100))
    }
}
