import Foundation
import PetalsModel

/// The output head of a swarm client shared by its concurrent sessions: the last hidden rows of
/// sessions asking at once go through one product with the head matrix (group commit: whoever
/// finds no product running takes every waiting row, the others wait for it), so many users of
/// one node read the head's weights once per step instead of once each. A row's logits are the
/// bits it gets alone (``ModelShard/logits(_:rows:)``); a head whose batches would round
/// otherwise (F16/F32, ``ModelShard/headBatchesExactly``) takes one row at a time.
///
/// Products wait a little for rows that are about to come, so that sessions keep stepping as one
/// group, which every server on their routes then batches together:
/// - the sessions of the last product come back together a step later (their servers batched
///   them), but some hundreds of microseconds apart, and the first back would run alone and split
///   the group: a product waits up to `gatherSeconds` for them, as ``StepScheduler`` does;
/// - groups that formed apart (sessions that started at different moments) stay apart, each in
///   its own batches on every server. When a session's whole route runs on this machine, its
///   servers share these cores, so a second group's steps do not run in parallel with the first's
///   but only in smaller batches: a product waits for such sessions that are due back (their last
///   step's period says when; ``SessionRhythm``), at most `mergeSeconds`, and the groups merge.
///   Over servers elsewhere the groups keep their pipelining across machines.
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
        let session: ObjectIdentifier
        var logits: [Float]?
        var error: Error?
        var done = false

        init(row: [Float], session: ObjectIdentifier) {
            self.row = row
            self.session = session
        }
    }

    private let head: ModelShard
    private let condition = NSCondition()
    private var waiting: [Request] = []
    private var running = false
    private var counters = Statistics()
    /// The sessions of the last product that have not asked again (nor ended) since: a session
    /// leaves it when its row arrives.
    private var returning: Set<ObjectIdentifier> = []
    /// When the sessions whose routes run on this machine asked, to merge their groups.
    private var rhythm = SessionRhythm()

    private let limit: Int
    private let gatherSeconds: Double
    /// The longest wait for a group due back: a step of 64 sessions on two cores takes about a
    /// quarter of a second, and a group is at most one step away.
    private let mergeSeconds: Double

    init(head: ModelShard, gatherSeconds: Double = StepScheduler.Options().gatherSeconds, mergeSeconds: Double = 0.5) {
        self.head = head
        limit = head.headBatchesExactly ? head.batchRows : 1
        self.gatherSeconds = limit > 1 ? gatherSeconds : 0
        self.mergeSeconds = limit > 1 ? mergeSeconds : 0
    }

    var statistics: Statistics { condition.withLock { counters } }

    /// The logits of one hidden-state row (hp.embedding values) of `session`, whose route runs
    /// entirely on this machine when `routeIsLocal`.
    func logits(_ row: [Float], session: ObjectIdentifier, routeIsLocal: Bool = false) throws -> [Float] {
        let request = Request(row: row, session: session)
        condition.lock()
        waiting.append(request)
        returning.remove(session)
        if routeIsLocal { rhythm.visit(session, at: Self.now()) } else { rhythm.forget(session) }
        condition.broadcast() // a gathering product may be waiting for this row
        while !request.done {
            if running {
                condition.wait()
                continue
            }
            running = true
            gather()
            let batch = Array(waiting.prefix(limit))
            waiting.removeFirst(batch.count)
            condition.unlock()
            run(batch)
            condition.lock()
            for finished in batch { finished.done = true }
            returning = Set(batch.map(\.session))
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

    /// A session that will not ask again (its generation ended): no product waits for it.
    func forget(_ session: ObjectIdentifier) {
        condition.withLock {
            returning.remove(session)
            rhythm.forget(session)
            condition.broadcast()
        }
    }

    /// Waits (the lock held, `running` set) for the rows about to come, until a product's worth
    /// waits: the last product's sessions for up to gatherSeconds, the local-route sessions due
    /// back until they are due (at most mergeSeconds from now).
    private func gather() {
        let start = Self.now()
        let present = Set(waiting.map(\.session))
        let due = rhythm.due(except: present, now: start, within: mergeSeconds)
        while waiting.count < limit {
            let now = Self.now()
            let here = Set(waiting.map(\.session))
            var until = 0.0
            if now < start + gatherSeconds, !returning.isEmpty { until = start + gatherSeconds }
            // (A session forgotten meanwhile has ended: not waited for.)
            for (session, time) in due where time > now && !here.contains(session) && rhythm.isKnown(session) {
                until = max(until, time)
            }
            guard until > now else { break }
            _ = condition.wait(until: Date(timeIntervalSinceNow: until - now))
        }
        returning.removeAll()
    }

    private static func now() -> Double { ProcessInfo.processInfo.systemUptime }

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

/// When sessions asked for logits and the period between their last two asks: a session that
/// steps regularly is due back one period after its last ask (with slack for jitter); one past
/// that is stalled (its client reads slowly, or it ended without saying) and nobody waits for it.
struct SessionRhythm {
    /// Due time = last ask + period x this.
    static let slack = 1.5

    private var lastAsk: [ObjectIdentifier: Double] = [:]
    private var period: [ObjectIdentifier: Double] = [:]

    mutating func visit(_ session: ObjectIdentifier, at time: Double) {
        if let last = lastAsk[session] { period[session] = time - last }
        lastAsk[session] = time
    }

    mutating func forget(_ session: ObjectIdentifier) {
        lastAsk[session] = nil
        period[session] = nil
    }

    func isKnown(_ session: ObjectIdentifier) -> Bool { period[session] != nil }

    /// The sessions not in `present` that are due back after `now` and no later than
    /// `now + within`, with their due times.
    func due(except present: Set<ObjectIdentifier>, now: Double, within: Double) -> [(ObjectIdentifier, Double)] {
        guard within > 0 else { return [] }
        return period.compactMap { session, period in
            guard !present.contains(session), let last = lastAsk[session] else { return nil }
            let time = last + period * Self.slack
            return time > now && time <= now + within ? (session, time) : nil
        }
    }
}
