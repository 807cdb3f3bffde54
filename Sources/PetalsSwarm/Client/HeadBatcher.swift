import Foundation
import PetalsModel

/// The output head of a swarm client shared by its concurrent sessions: the last hidden rows of
/// sessions asking at once go through one product with the head matrix (group commit: whoever
/// finds no product running takes every waiting row, the others wait for it), so many users of
/// one node read the head's weights once per step instead of once each. A row's logits are the
/// bits it gets alone (``ModelShard/logits(_:rows:)``); a head whose batches would round
/// otherwise (F16/F32, ``ModelShard/headBatchesExactly``) takes one row at a time.
final class HeadBatcher: @unchecked Sendable {
    /// Counters since start (for tests and logs).
    struct Statistics: Equatable {
        var products = 0
        var rows = 0
        var largestProduct = 0
    }

    /// One session's row; `logits`, `error` and `done` are written by the product's runner
    /// before it takes the lock to publish them.
    private final class Request {
        let row: [Float]
        var logits: [Float]?
        var error: Error?
        var done = false

        init(row: [Float]) { self.row = row }
    }

    private let head: ModelShard
    private let condition = NSCondition()
    private var waiting: [Request] = []
    private var running = false
    private var counters = Statistics()

    private let limit: Int

    init(head: ModelShard) {
        self.head = head
        limit = head.headBatchesExactly ? head.batchRows : 1
    }

    var statistics: Statistics { condition.withLock { counters } }

    /// The logits of one hidden-state row (hp.embedding values).
    func logits(_ row: [Float]) throws -> [Float] {
        let request = Request(row: row)
        condition.lock()
        waiting.append(request)
        while !request.done {
            if running {
                condition.wait()
                continue
            }
            running = true
            let batch = Array(waiting.prefix(limit))
            waiting.removeFirst(batch.count)
            condition.unlock()
            run(batch)
            condition.lock()
            for finished in batch { finished.done = true }
            running = false
            counters.products += 1
            counters.rows += batch.count
            counters.largestProduct = max(counters.largestProduct, batch.count)
            condition.broadcast()
        }
        condition.unlock()
        if let error = request.error { throw error }
        return request.logits ?? []
    }

    private func run(_ batch: [Request]) {
        let e = head.hp.embedding
        let buffer = FloatBuffer(count: batch.count * e)
        for (i, request) in batch.enumerated() { (buffer.pointer + i * e).update(from: request.row, count: e) }
        do {
            let logits = try head.logits(buffer, rows: Array(batch.indices))
            for (request, values) in zip(batch, logits) { request.logits = values }
        } catch {
            for request in batch { request.error = error }
        }
        head.pool.park() // sampling, then the next step's network wait
    }
}
