import Foundation
import PetalsModel

/// Admission of the HTTP API's generations: up to `running` at once (their steps are batched by
/// the shards' schedulers), up to `waiting` more in FIFO order, and a clear refusal beyond that
/// instead of a queue without bound. Also keeps the figures /metrics shows about it: the wait
/// queue's length, time to first token, and (through `schedulerStatistics`) batch sizes.
public final class GenerationQueue: @unchecked Sendable {
    public let running: Int
    public let waiting: Int
    /// Seconds a refused client is told to wait (Retry-After).
    public let retryAfterSeconds: Int
    /// Upper bounds (seconds) of the time-to-first-token histogram; +Inf is implicit.
    public static let firstTokenBuckets: [Double] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    private let lock = NSLock()
    private var active = 0
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, Error>)] = []
    private var nextWaiter: UInt64 = 0
    private var refused = 0
    private var cancelled = 0
    private var firstTokenCounts = [Int](repeating: 0, count: GenerationQueue.firstTokenBuckets.count)
    private var firstTokenCount = 0
    private var firstTokenSum = 0.0
    private var statisticsSource: (@Sendable () -> [StepScheduler.Statistics])?

    public init(running: Int = 64, waiting: Int = 64, retryAfterSeconds: Int = 1) {
        self.running = max(running, 1)
        self.waiting = max(waiting, 0)
        self.retryAfterSeconds = max(retryAfterSeconds, 1)
    }

    /// Generations waiting for a place now.
    public var waitingCount: Int { lock.withLock { waiters.count } }
    /// Generations running now.
    public var runningCount: Int { lock.withLock { active } }

    /// Waits for a place; throws GenerationServiceError.busy at once when the wait queue is full,
    /// and CancellationError when the task is cancelled while waiting (it leaves the queue).
    public func acquire() async throws {
        let id: UInt64 = lock.withLock {
            nextWaiter += 1
            return nextWaiter
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                lock.lock()
                if Task.isCancelled {
                    lock.unlock()
                    continuation.resume(throwing: CancellationError())
                } else if active < running {
                    active += 1
                    lock.unlock()
                    continuation.resume()
                } else if waiters.count < waiting {
                    waiters.append((id, continuation))
                    lock.unlock()
                } else {
                    refused += 1
                    let (now, queued) = (active, waiters.count)
                    lock.unlock()
                    continuation.resume(throwing: GenerationServiceError.busy(
                        running: now, waiting: queued, retryAfterSeconds: retryAfterSeconds))
                }
            }
        } onCancel: { [self] in
            let waiter: CheckedContinuation<Void, Error>? = lock.withLock {
                guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return waiters.remove(at: index).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Waits for a place (as `acquire`) and returns it as a ticket that gives it back once,
    /// when released or dropped (e.g. a streamed response never written).
    public func admit() async throws -> GenerationTicket {
        let requested = ContinuousClock.now
        try await acquire()
        return GenerationTicket(queue: self, requestedAt: requested)
    }

    /// Gives the place back: to the oldest waiter, if any.
    public func release() {
        let next: CheckedContinuation<Void, Error>? = lock.withLock {
            if waiters.isEmpty {
                active -= 1
                return nil
            }
            return waiters.removeFirst().continuation
        }
        next?.resume()
    }

    /// Records the seconds from a request's arrival to its first generated token.
    public func recordFirstToken(seconds: Double) {
        let value = seconds.isFinite ? max(seconds, 0) : 0
        lock.withLock {
            firstTokenCount += 1
            firstTokenSum += value
            if let bucket = Self.firstTokenBuckets.firstIndex(where: { value <= $0 }) { firstTokenCounts[bucket] += 1 }
        }
    }

    /// Counts a generation abandoned by its client.
    public func recordCancelled() { lock.withLock { cancelled += 1 } }

    /// Where /metrics reads the schedulers' batch figures (the node's shard, when it has one).
    public func setSchedulerStatistics(_ source: @escaping @Sendable () -> [StepScheduler.Statistics]) {
        lock.withLock { statisticsSource = source }
    }

    /// Prometheus text for the queue, time to first token and the schedulers' batches.
    public func prometheusText() -> String {
        let schedulers = lock.withLock { statisticsSource }?() ?? []
        return lock.withLock {
            var out = PrometheusText()
            out.metric("plumise_generations_running", "gauge", "Generations running now (batched together).", Double(active))
            out.metric("plumise_generation_queue_length", "gauge", "Generations waiting for a place.", Double(waiters.count))
            out.metric("plumise_generation_queue_capacity", "gauge", "Generations that may wait; beyond it requests get 503.",
                       Double(waiting))
            out.metric("plumise_generations_refused_total", "counter", "Requests refused with 503 because the queue was full.",
                       Double(refused))
            out.metric("plumise_generations_cancelled_total", "counter", "Generations stopped because their client went away.",
                       Double(cancelled))
            out.histogram("plumise_time_to_first_token_seconds",
                          "Seconds from a request's arrival to its first generated token.",
                          cumulativeBuckets: PrometheusText.cumulative(bounds: Self.firstTokenBuckets, counts: firstTokenCounts),
                          count: firstTokenCount, sum: firstTokenSum)
            var total = StepScheduler.Statistics()
            for s in schedulers {
                total.batches += s.batches
                total.rows += s.rows
                total.sequences += s.sequences
                total.queuedSteps += s.queuedSteps
                for i in total.batchesBySequences.indices { total.batchesBySequences[i] += s.batchesBySequences[i] }
            }
            out.metric("plumise_batches_total", "counter", "Batched forwards run by this node's shard.", Double(total.batches))
            out.metric("plumise_batch_rows_total", "counter", "Rows (tokens) run in those batches.", Double(total.rows))
            out.metric("plumise_batch_sequences_total", "counter", "Sequences in those batches (once per batch).",
                       Double(total.sequences))
            out.metric("plumise_step_queue_length", "gauge", "Steps waiting for or in the shard's current batch.",
                       Double(total.queuedSteps))
            out.histogram("plumise_batch_sequences", "Batches by the number of sequences they ran.",
                          cumulativeBuckets: PrometheusText.cumulative(
                              bounds: StepScheduler.Statistics.sequenceBuckets.map(Double.init), counts: total.batchesBySequences),
                          count: total.batches, sum: Double(total.sequences))
            return out.text
        }
    }
}

/// A place among the running generations of a ``GenerationQueue``.
public final class GenerationTicket: @unchecked Sendable {
    private let queue: GenerationQueue
    /// When the request asked for its place (time to first token counts from here).
    public let requestedAt: ContinuousClock.Instant
    private let lock = NSLock()
    private var released = false

    init(queue: GenerationQueue, requestedAt: ContinuousClock.Instant) {
        self.queue = queue
        self.requestedAt = requestedAt
    }

    deinit { release() }

    /// Gives the place back (once; later calls do nothing).
    public func release() {
        let first: Bool = lock.withLock {
            defer { released = true }
            return !released
        }
        if first { queue.release() }
    }
}
