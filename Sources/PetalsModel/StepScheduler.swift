import Foundation

/// Continuous batching for one shard: callers on any thread submit steps (new rows of one
/// sequence) and wait; one compute thread owns the shard's scratch and compute pool and, each
/// turn, runs every ready step it can fit as one batched forward.
///
/// A turn takes the decode steps (one row) first, oldest first and rotating when there are more
/// than the token budget holds, then one chunk of each waiting prefill in arrival order while the
/// budget lasts. A prefill is cut into chunks of `shard.maxBatch` rows from its first row, never
/// into smaller pieces to fill a turn, so a sequence's arithmetic is the same alone or batched
/// (see ``ModelShard/forward(_:batch:)``). Every queued step is served within a few turns: decode
/// rows always run, and the oldest prefill gets its chunk whenever the turn has room for it (a
/// turn with nothing else always does).
public final class StepScheduler: @unchecked Sendable {
    public struct Options: Sendable {
        /// Rows of one batched forward (at most the shard's batchRows).
        public var tokenBudget: Int
        /// Steps waiting or running at once; further submissions get SchedulerError.queueFull.
        public var maxQueuedSteps: Int
        /// How long a turn may wait for the sequences of the previous turn to come back with their
        /// next step (each samples its token on its own thread first). Without it, the first one
        /// back would run alone and the rest a turn later, halving the batch.
        public var gatherSeconds: Double

        public init(tokenBudget: Int = 256, maxQueuedSteps: Int = 512, gatherSeconds: Double = 0.003) {
            self.tokenBudget = tokenBudget
            self.maxQueuedSteps = maxQueuedSteps
            self.gatherSeconds = gatherSeconds
        }
    }

    /// Counters since start, for /metrics.
    public struct Statistics: Sendable, Equatable {
        /// Batched forwards run.
        public var batches = 0
        /// Rows run in them.
        public var rows = 0
        /// Sequences in them (a sequence counts once per batch).
        public var sequences = 0
        /// Steps waiting or running now.
        public var queuedSteps = 0
        /// Batches by their number of sequences: bucket i counts batches of at most
        /// `Statistics.sequenceBuckets[i]` sequences (the last bucket: any more).
        public var batchesBySequences = [Int](repeating: 0, count: Statistics.sequenceBuckets.count + 1)

        public static let sequenceBuckets = [1, 2, 4, 8, 16, 32, 64]

        public init() {}
    }

    public let shard: ModelShard
    public let options: Options

    private let condition = NSCondition()
    private var queue: [Step] = []
    private var stopped = false
    private var rotation = 0
    /// Sequences whose step finished in the last turn: they are likely to send their next one.
    private var returning: Set<ObjectIdentifier> = []
    private var statistics = Statistics()
    private let input: FloatBuffer
    private let done = DispatchSemaphore(value: 0)

    public init(shard: ModelShard, options: Options = Options()) {
        self.shard = shard
        var options = options
        options.tokenBudget = max(shard.maxBatch + 1, min(options.tokenBudget, shard.batchRows))
        options.maxQueuedSteps = max(1, options.maxQueuedSteps)
        self.options = options
        input = FloatBuffer(count: options.tokenBudget * shard.hp.embedding)
        let thread = Thread { [self] in computeLoop() }
        thread.name = "petals-compute"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Stops the compute thread once the current batch is done; waiting steps fail with
    /// SchedulerError.stopped. Idempotent.
    public func stop() {
        condition.lock()
        let wasRunning = !stopped
        stopped = true
        condition.broadcast()
        condition.unlock()
        if wasRunning { done.wait() }
    }

    public var stats: Statistics {
        condition.lock()
        defer { condition.unlock() }
        var s = statistics
        s.queuedSteps = queue.count
        return s
    }

    /// Runs `rows` hidden states (row-major in `hidden`, changed in place) through the shard at
    /// positions `position` ..< position + rows of `cache`, after forgetting the cache's positions
    /// from `position` on (a replay or a retried step). Blocks until the step ran. With `logits`,
    /// returns the logits of the last row (the shard must hold the output head).
    ///
    /// `isCancelled` is polled between turns: a cancelled step leaves the queue at once with
    /// SchedulerError.cancelled (its cache then holds only whole chunks already run).
    @discardableResult
    public func run(_ hidden: FloatBuffer, rows: Int, position: Int, cache: KVCache, logits: Bool = false,
                    isCancelled: @escaping @Sendable () -> Bool = { false }) throws -> [Float]? {
        let e = shard.hp.embedding
        guard rows > 0, hidden.count >= rows * e else {
            throw ModelError.invalidHyperparameters("a step needs 1 or more rows of \(e) values, got \(hidden.count) values for \(rows)")
        }
        guard position >= 0, position <= cache.count, position + rows <= cache.capacity else {
            throw ModelError.contextFull(needed: position + rows, capacity: cache.capacity)
        }
        guard !logits || shard.hasHead else {
            throw ModelError.invalidBlockRange("this shard [\(shard.blocks.lowerBound), \(shard.blocks.upperBound)) has no output head")
        }
        let step = Step(cache: cache, hidden: hidden, rows: rows, position: position, wantsLogits: logits,
                        isCancelled: isCancelled)
        condition.lock()
        guard !stopped else {
            condition.unlock()
            throw SchedulerError.stopped
        }
        guard queue.count < options.maxQueuedSteps else {
            let waiting = queue.count
            condition.unlock()
            throw SchedulerError.queueFull(waiting: waiting)
        }
        guard !queue.contains(where: { $0.cache === cache }) else {
            condition.unlock()
            throw SchedulerError.sequenceBusy
        }
        queue.append(step)
        condition.signal()
        condition.unlock()
        step.finished.wait()
        if let error = step.error { throw error }
        return step.logits
    }

    // MARK: - The compute thread

    /// One submitted step and its progress (touched only under the lock or on the compute thread).
    /// The caller keeps the cache and the buffer alive while it waits, so the step holds them
    /// unowned: once the caller lets go of a finished sequence, its pages return to the pool at
    /// once, whatever the compute thread still has in hand.
    final class Step: @unchecked Sendable {
        unowned let cache: KVCache
        unowned let hidden: FloatBuffer
        let rows: Int
        let position: Int
        let wantsLogits: Bool
        let isCancelled: @Sendable () -> Bool
        var done = 0
        var error: Error?
        var logits: [Float]?
        let finished = DispatchSemaphore(value: 0)

        init(cache: KVCache, hidden: FloatBuffer, rows: Int, position: Int, wantsLogits: Bool,
             isCancelled: @escaping @Sendable () -> Bool) {
            self.cache = cache
            self.hidden = hidden
            self.rows = rows
            self.position = position
            self.wantsLogits = wantsLogits
            self.isCancelled = isCancelled
        }

        var remaining: Int { rows - done }
    }

    /// A step's part of one turn.
    private struct Chunk {
        let step: Step
        let rows: Int
    }

    private func computeLoop() {
        defer { done.signal() }
        while true {
            condition.lock()
            while queue.isEmpty && !stopped {
                // Nothing to run: let the pool's workers sleep instead of spinning.
                condition.unlock()
                shard.pool.park()
                condition.lock()
                if queue.isEmpty && !stopped { condition.wait() }
            }
            gather()
            if stopped {
                let abandoned = queue
                queue.removeAll()
                condition.unlock()
                abandoned.forEach { finish($0, error: SchedulerError.stopped) }
                return
            }
            // Callers' cancellation checks run outside the lock (they may take locks of their own).
            let waiting = queue
            condition.unlock()
            let cancelled = waiting.filter { $0.isCancelled() }
            condition.lock()
            queue.removeAll { step in cancelled.contains { $0 === step } }
            let turn = planTurn()
            condition.unlock()
            cancelled.forEach { finish($0, error: SchedulerError.cancelled) }
            if !turn.isEmpty { run(turn) }
        }
    }

    /// Waits (the lock held) up to gatherSeconds for the sequences of the last turn to queue their
    /// next step, so they run together; a sequence that ended its generation costs one wait.
    private func gather() {
        guard !returning.isEmpty, options.gatherSeconds > 0 else { return }
        let deadline = Date(timeIntervalSinceNow: options.gatherSeconds)
        while !stopped, !returning.isSubset(of: Set(queue.map { ObjectIdentifier($0.cache) })),
              condition.wait(until: deadline) {}
        returning.removeAll()
    }

    /// The chunks of this turn (the lock held): decode rows first, then prefill chunks.
    private func planTurn() -> [Chunk] {
        var budget = options.tokenBudget
        var turn: [Chunk] = []
        let decodes = queue.filter { $0.remaining == 1 }
        // A waiting prefill keeps room for its next chunk, so decode rows cannot starve it.
        let oldestPrefill = queue.first { $0.remaining > 1 }
        let decodeBudget = max(1, budget - (oldestPrefill.map(chunkRows) ?? 0))
        if !decodes.isEmpty {
            // More decode rows than fit: start where the last such turn stopped.
            let take = min(decodes.count, decodeBudget)
            let start = decodes.count > take ? rotation % decodes.count : 0
            for i in 0..<take { turn.append(Chunk(step: decodes[(start + i) % decodes.count], rows: 1)) }
            if decodes.count > take { rotation = start + take }
            budget -= take
        }
        for step in queue where step.remaining > 1 {
            let rows = chunkRows(step)
            guard rows <= budget || turn.isEmpty else { break }
            turn.append(Chunk(step: step, rows: rows))
            budget -= rows
        }
        return turn
    }

    /// The next chunk of a step: up to maxBatch rows, counted from the step's first row.
    private func chunkRows(_ step: Step) -> Int { min(shard.maxBatch, step.remaining) }

    private func run(_ turn: [Chunk]) {
        let e = shard.hp.embedding
        var offset = 0
        for chunk in turn {
            if chunk.step.done == 0 { chunk.step.cache.truncate(to: chunk.step.position) }
            (input.pointer + offset * e).update(from: chunk.step.hidden.pointer + chunk.step.done * e, count: chunk.rows * e)
            offset += chunk.rows
        }
        var failure: Error?
        do {
            try shard.forward(input, batch: turn.map { SequenceRows(cache: $0.step.cache, rows: $0.rows) })
        } catch {
            failure = error
        }
        // Rows back to their steps; the logits of every step that ends now, in one product.
        offset = 0
        var ending: [(step: Step, row: Int)] = []
        for chunk in turn {
            let step = chunk.step
            if failure == nil {
                (step.hidden.pointer + step.done * e).update(from: input.pointer + offset * e, count: chunk.rows * e)
                step.done += chunk.rows
                if step.done == step.rows && step.wantsLogits { ending.append((step, offset + chunk.rows - 1)) }
            }
            offset += chunk.rows
        }
        if failure == nil, !ending.isEmpty {
            do {
                let logits = try shard.logits(input, rows: ending.map(\.row))
                for (item, values) in zip(ending, logits) { item.step.logits = values }
            } catch {
                failure = error
            }
        }
        condition.lock()
        statistics.batches += 1
        statistics.rows += offset
        statistics.sequences += turn.count
        let bucket = Statistics.sequenceBuckets.firstIndex { turn.count <= $0 } ?? Statistics.sequenceBuckets.count
        statistics.batchesBySequences[bucket] += 1
        let finished = turn.map(\.step).filter { failure != nil || $0.done == $0.rows }
        queue.removeAll { step in finished.contains { $0 === step } }
        returning = Set(finished.map { ObjectIdentifier($0.cache) })
        condition.unlock()
        finished.forEach { finish($0, error: failure) }
    }

    private func finish(_ step: Step, error: Error?) {
        step.error = error
        step.finished.signal()
    }
}

/// Why the scheduler did not run a step.
public enum SchedulerError: Error, Equatable, CustomStringConvertible {
    /// Too many steps are waiting already.
    case queueFull(waiting: Int)
    /// The caller gave up on the step (its client went away).
    case cancelled
    /// The scheduler was stopped (the server is shutting down).
    case stopped
    /// The sequence already has a step waiting or running.
    case sequenceBusy

    public var description: String {
        switch self {
        case .queueFull(let waiting): return "the server is busy: \(waiting) steps are waiting already; retry shortly"
        case .cancelled: return "the step was cancelled"
        case .stopped: return "the server is shutting down"
        case .sequenceBusy: return "the sequence already has a step running"
        }
    }
}

/// A flag set once from any thread (cancellation, stopping, a first event).
public final class OneWayFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    public init() {}

    public var isSet: Bool { lock.withLock { value } }
    public func set() { lock.withLock { value = true } }
    /// Sets the flag; true only for the call that set it first.
    public func claim() -> Bool {
        lock.withLock {
            defer { value = true }
            return !value
        }
    }
}
