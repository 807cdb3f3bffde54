import Foundation

/// Why a server refused to open or use a session; the message goes back to the client.
public enum SessionError: Error, Equatable, CustomStringConvertible {
    case tooManySessions(limit: Int)
    case cacheFull(requested: Int, free: Int)
    case lengthTooLarge(requested: Int, limit: Int)
    case invalidLength(Int)
    case unknownSession(UInt64)
    case busy(UInt64)

    public var description: String {
        switch self {
        case .tooManySessions(let limit): return "server is full: \(limit) sessions already open"
        case .cacheFull(let requested, let free):
            return "server cache is full: session needs \(requested) positions, \(free) are free"
        case .lengthTooLarge(let requested, let limit):
            return "session length \(requested) exceeds this server's limit of \(limit)"
        case .invalidLength(let n): return "session length must be positive, got \(n)"
        case .unknownSession(let id): return "no open session \(id) (closed, timed out, or never opened)"
        case .busy(let id): return "session \(id) is already running a step"
        }
    }
}

/// Open inference sessions of one server: admission against ServerLimits, lookup, and idle
/// reaping. `State` is what the server keeps per session (its KV cache). Thread-safe.
public final class SessionRegistry<State>: @unchecked Sendable {
    public struct Entry {
        public let id: UInt64
        public let maxLength: Int
        public let state: State
    }

    private struct Slot {
        var entry: Entry
        var lastUsed: Double
        var inUse: Bool
    }

    public let limits: ServerLimits
    private let clock: () -> Double
    private let lock = NSLock()
    private var slots: [UInt64: Slot] = [:]
    private var nextID: UInt64 = 1

    /// `clock` returns seconds; injectable so idle reaping is testable without sleeping.
    public init(limits: ServerLimits, clock: @escaping () -> Double = { ProcessInfo.processInfo.systemUptime }) {
        self.limits = limits
        self.clock = clock
    }

    public var openCount: Int { lock.withLock { slots.count } }

    /// Cache positions not reserved by open sessions.
    public var freeCacheTokens: Int {
        lock.withLock { limits.cacheTokenBudget - slots.values.reduce(0) { $0 + $1.entry.maxLength } }
    }

    /// Reserves room for a session of `maxLength` positions; `makeState` builds its state only
    /// once admission succeeded (so a refused session allocates nothing).
    public func open(maxLength: Int, makeState: () throws -> State) throws -> Entry {
        lock.lock()
        defer { lock.unlock() }
        guard maxLength > 0 else { throw SessionError.invalidLength(maxLength) }
        guard maxLength <= limits.maxSessionLength else {
            throw SessionError.lengthTooLarge(requested: maxLength, limit: limits.maxSessionLength)
        }
        guard slots.count < limits.maxSessions else { throw SessionError.tooManySessions(limit: limits.maxSessions) }
        let free = limits.cacheTokenBudget - slots.values.reduce(0) { $0 + $1.entry.maxLength }
        guard maxLength <= free else { throw SessionError.cacheFull(requested: maxLength, free: free) }
        let entry = Entry(id: nextID, maxLength: maxLength, state: try makeState())
        nextID += 1
        slots[entry.id] = Slot(entry: entry, lastUsed: clock(), inUse: false)
        return entry
    }

    /// Runs `body` with exclusive use of session `id` (one step at a time per session).
    public func use<T>(_ id: UInt64, _ body: (Entry) throws -> T) throws -> T {
        let entry: Entry = try lock.withLock {
            guard var slot = slots[id] else { throw SessionError.unknownSession(id) }
            guard !slot.inUse else { throw SessionError.busy(id) }
            slot.inUse = true
            slot.lastUsed = clock()
            slots[id] = slot
            return slot.entry
        }
        defer {
            lock.withLock {
                if var slot = slots[id] {
                    slot.inUse = false
                    slot.lastUsed = clock()
                    slots[id] = slot
                }
            }
        }
        return try body(entry)
    }

    /// Closes `id`; true when it was open.
    @discardableResult
    public func close(_ id: UInt64) -> Bool {
        lock.withLock { slots.removeValue(forKey: id) != nil }
    }

    /// Frees sessions idle longer than the limit (never one in the middle of a step).
    @discardableResult
    public func reapIdle() -> [UInt64] {
        lock.withLock {
            let now = clock()
            let stale = slots.filter { !$0.value.inUse && now - $0.value.lastUsed > limits.idleTimeoutSeconds }.map(\.key)
            stale.forEach { slots.removeValue(forKey: $0) }
            return stale.sorted()
        }
    }
}
