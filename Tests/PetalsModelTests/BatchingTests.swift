import CKernels
import Foundation
import PetalsModel
import PetalsTestSupport
import XCTest

/// Continuous batching in one process: a batched forward gives every sequence the bits it gets
/// alone, concurrent sessions through the schedulers give their solo greedy tokens, and the KV
/// cache pool refuses what it cannot hold.
final class BatchingTests: XCTestCase {
    override func setUpWithError() throws {
        try TestModel.requireModel()
    }

    /// Prompts of 1 to ~150 tokens (the longest is cut into several prefill chunks).
    static func prompts(_ count: Int) -> [String] {
        let words = ["river", "stone", "light", "garden", "winter", "music", "paper", "engine", "cloud", "forest"]
        return (0..<count).map { i in
            let length = [1, 3, 6, 10, 17, 25, 40, 70][i % 8] * (i >= 8 ? 2 : 1)
            return (0..<length).map { words[($0 * 7 + i) % words.count] }.joined(separator: " ")
        }
    }

    func testABatchedForwardGivesEverySequenceTheBitsItGetsAlone() throws {
        let shard = try TestModel.pipeline().shards[0]
        let e = shard.hp.embedding
        let lengths = [1, 5, 64, 1, 33]
        var rng = SystemRandomNumberGenerator()
        let inputs = lengths.map { n in (0..<n * e).map { _ in Float.random(in: -1...1, using: &rng) } }
        // Each sequence already holds a few positions, so the rows attend over a cache too.
        let history = [3, 0, 7, 20, 1]
        func prepared() throws -> [KVCache] {
            try zip(lengths, history).map { length, past in
                let cache = try shard.openCache(capacity: past + length + 1)
                if past > 0 {
                    let states = FloatBuffer(count: past * e)
                    for i in 0..<past * e { states[i] = Float(i % 13) / 13 - 0.5 }
                    try shard.forward(states, nTok: past, cache: cache)
                }
                return cache
            }
        }
        // Alone, one sequence per call.
        var alone: [[Float]] = []
        for (input, cache) in zip(inputs, try prepared()) {
            let buffer = FloatBuffer(count: input.count)
            buffer.copy(from: input)
            try shard.forward(buffer, nTok: input.count / e, cache: cache)
            alone.append(buffer.array())
        }
        // All together in one batch.
        let caches = try prepared()
        let batch = FloatBuffer(count: inputs.reduce(0) { $0 + $1.count })
        batch.copy(from: inputs.flatMap { $0 })
        try shard.forward(batch, batch: zip(caches, lengths).map { SequenceRows(cache: $0, rows: $1) })
        var offset = 0
        for (i, expected) in alone.enumerated() {
            XCTAssertEqual(batch.array(from: offset, length: expected.count).map(\.bitPattern), expected.map(\.bitPattern),
                           "sequence \(i) (\(lengths[i]) rows after \(history[i]))")
            offset += expected.count
            XCTAssertEqual(caches[i].count, history[i] + lengths[i])
        }
        // The logits of several rows at once are each row's own.
        let rows = [0, lengths[0] + lengths[1] - 1, batch.count / e - 1]
        let together = try shard.logits(batch, rows: rows)
        for (row, logits) in zip(rows, together) {
            XCTAssertEqual(logits.map(\.bitPattern), try shard.logits(batch, row: row).map(\.bitPattern), "row \(row)")
        }
    }

    func testSixteenConcurrentSessionsGiveTheirSoloGreedyTokens() throws {
        try checkConcurrentSessions(try TestModel.pipeline())
    }

    func testSixteenConcurrentSessionsOverTwoLocalShardsGiveTheirSoloGreedyTokens() throws {
        try checkConcurrentSessions(try TestModel.pipeline([0..<15, 15..<30]))
    }

    private func checkConcurrentSessions(_ pipeline: LocalPipeline) throws {
        let generator = TextGenerator(tokenizer: try TestModel.tokenizer(), backend: pipeline)
        let prompts = Self.prompts(16).map { generator.tokenize($0) }
        XCTAssertGreaterThan(prompts.map(\.count).max() ?? 0, pipeline.shards[0].maxBatch, "a prompt needs several chunks")
        func greedy(_ prompt: [Int]) throws -> [Int] {
            try generator.generate(promptTokens: prompt, maxNewTokens: 12, sampling: SamplingParameters(),
                                   stopAtEndOfGeneration: false).tokens
        }
        let solo = try prompts.map(greedy)
        let before = pipeline.schedulers[0].stats
        let lock = NSLock()
        var together = [Int: Result<[Int], Error>]()
        runConcurrently(prompts.count) { i in
            let outcome = Result { try greedy(prompts[i]) }
            lock.withLock { together[i] = outcome }
        }
        for i in prompts.indices {
            XCTAssertEqual(try together[i]?.get(), solo[i], "session \(i) (\(prompts[i].count) prompt tokens)")
        }
        let after = pipeline.schedulers[0].stats
        XCTAssertGreaterThan(after.sequences - before.sequences, after.batches - before.batches,
                             "steps of several sessions ran in one batch")
        XCTAssertEqual(after.queuedSteps, 0)
    }

    func testAFullCacheRefusesANewSessionWithAClearErrorAndFreesAtOnce() throws {
        let pipeline = try TestModel.pipeline()
        let pool = pipeline.shards[0].cachePool
        let free = pool.freeTokens
        var held: InferenceSession? = try pipeline.openSession(capacity: free - 10)
        XCTAssertThrowsError(try pipeline.openSession(capacity: 11)) { error in
            XCTAssertEqual(error as? ModelError, .cacheFull(requested: 11, free: 10, capacity: pool.capacityTokens))
            XCTAssertTrue("\(error)".contains("--cache-tokens"), "\(error)")
        }
        XCTAssertEqual(pool.bytesInUse, 0, "pages are taken as positions fill, not when a session opens")
        _ = try held?.step([1, 2, 3])
        XCTAssertEqual(pool.bytesInUse, pool.pageBytes)
        held = nil
        XCTAssertEqual(pool.freeTokens, free)
        XCTAssertEqual(pool.bytesInUse, 0)
        XCTAssertNoThrow(try pipeline.openSession(capacity: 11))
    }

    func testAFullStepQueueRefusesWithABusyError() throws {
        let shard = try TestModel.pipeline().shards[0]
        let scheduler = StepScheduler(shard: shard, options: .init(tokenBudget: 64, maxQueuedSteps: 1))
        defer { scheduler.stop() }
        let e = shard.hp.embedding
        // A prefill holds the only place; the scheduler is held in its first cancellation check.
        let cache = try shard.openCache(capacity: 128)
        let polled = DispatchSemaphore(value: 0), proceed = DispatchSemaphore(value: 0), finished = DispatchSemaphore(value: 0)
        let first = OneWayFlag()
        Thread.detachNewThread {
            _ = try? scheduler.run(FloatBuffer(count: 128 * e), rows: 128, position: 0, cache: cache, isCancelled: {
                if !first.isSet {
                    first.set()
                    polled.signal()
                    proceed.wait()
                }
                return false
            })
            finished.signal()
        }
        polled.wait()
        XCTAssertThrowsError(try scheduler.run(FloatBuffer(count: e), rows: 1, position: 0,
                                               cache: try shard.openCache(capacity: 1))) { error in
            XCTAssertEqual(error as? SchedulerError, .queueFull(waiting: 1))
            XCTAssertTrue("\(error)".contains("busy"), "\(error)")
        }
        proceed.signal()
        finished.wait()
        XCTAssertEqual(cache.count, 128)
    }

    func testALongPrefillIsCutIntoChunksThatADecodeStepRunsBetween() throws {
        let shard = try TestModel.pipeline().shards[0]
        let scheduler = StepScheduler(shard: shard)
        defer { scheduler.stop() }
        let e = shard.hp.embedding, chunks = 8, rows = chunks * shard.maxBatch
        let prefillCache = try shard.openCache(capacity: rows), decodeCache = try shard.openCache(capacity: 1)
        // The prefill is held at its first turn until the decode step is queued behind it.
        let polled = DispatchSemaphore(value: 0), proceed = DispatchSemaphore(value: 0), prefillDone = DispatchSemaphore(value: 0)
        let turns = ManagedCounter(), turnsWhenDecoded = ManagedCounter()
        Thread.detachNewThread {
            _ = try? scheduler.run(FloatBuffer(count: rows * e), rows: rows, position: 0, cache: prefillCache, isCancelled: {
                if turns.increment() == 1 {
                    polled.signal()
                    proceed.wait()
                }
                return false
            })
            prefillDone.signal()
        }
        polled.wait()
        let decoded = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? scheduler.run(FloatBuffer(count: e), rows: 1, position: 0, cache: decodeCache)
            turnsWhenDecoded.set(turns.value)
            decoded.signal()
        }
        while scheduler.stats.queuedSteps < 2 { Thread.sleep(forTimeInterval: 0.001) }
        proceed.signal()
        decoded.wait()
        prefillDone.wait()
        XCTAssertLessThan(turnsWhenDecoded.value, chunks, "the decode step waited for the whole prefill")
        XCTAssertEqual(prefillCache.count, rows)
        XCTAssertEqual(decodeCache.count, 1)
    }

    func testACancelledStepLeavesTheQueueAtTheNextTurn() throws {
        let shard = try TestModel.pipeline().shards[0]
        let scheduler = StepScheduler(shard: shard)
        defer { scheduler.stop() }
        let e = shard.hp.embedding
        let cache = try shard.openCache(capacity: 1024)
        let asked = OneWayFlag()
        // Not cancelled at the first turn, cancelled at the second: one chunk ran, no more.
        XCTAssertThrowsError(try scheduler.run(FloatBuffer(count: 1024 * e), rows: 1024, position: 0, cache: cache,
                                               isCancelled: {
                                                   defer { asked.set() }
                                                   return asked.isSet
                                               })) { error in
            XCTAssertEqual(error as? SchedulerError, .cancelled)
        }
        XCTAssertEqual(cache.count, shard.maxBatch)
    }
}

/// An integer shared between threads.
private final class ManagedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func increment() -> Int { lock.withLock { count += 1; return count } }
    func set(_ value: Int) { lock.withLock { count = value } }
}
