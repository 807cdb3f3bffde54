import PetalsSwarm
import XCTest

final class SessionRegistryTests: XCTestCase {
    private final class Clock: @unchecked Sendable { var now = 0.0 }

    func testAdmitsSessionsWithinTheCacheBudgetAndRefusesBeyondIt() throws {
        let registry = SessionRegistry<Int>(limits: ServerLimits(cacheTokenBudget: 1000, maxSessionLength: 800))
        _ = try registry.open(maxLength: 600) { 1 }
        XCTAssertEqual(registry.freeCacheTokens, 400)
        XCTAssertThrowsError(try registry.open(maxLength: 500) { 2 }) {
            XCTAssertEqual($0 as? SessionError, .cacheFull(requested: 500, free: 400))
        }
        XCTAssertThrowsError(try registry.open(maxLength: 900) { 3 }) {
            XCTAssertEqual($0 as? SessionError, .lengthTooLarge(requested: 900, limit: 800))
        }
    }

    func testARefusedSessionBuildsNoState() {
        let registry = SessionRegistry<Int>(limits: ServerLimits(maxSessions: 0))
        var built = false
        XCTAssertThrowsError(try registry.open(maxLength: 1) { built = true; return 0 })
        XCTAssertFalse(built)
    }

    func testClosingFreesTheReservation() throws {
        let registry = SessionRegistry<Int>(limits: ServerLimits(maxSessions: 1, cacheTokenBudget: 100))
        let entry = try registry.open(maxLength: 100) { 1 }
        XCTAssertThrowsError(try registry.open(maxLength: 1) { 2 })
        XCTAssertTrue(registry.close(entry.id))
        XCTAssertFalse(registry.close(entry.id))
        XCTAssertNoThrow(try registry.open(maxLength: 100) { 3 })
    }

    func testUnknownSessionsAreReportedByID() {
        let registry = SessionRegistry<Int>(limits: ServerLimits())
        XCTAssertThrowsError(try registry.use(42) { _ in }) { XCTAssertEqual($0 as? SessionError, .unknownSession(42)) }
    }

    func testIdleSessionsAreReapedButNotOneInUse() throws {
        let clock = Clock()
        let registry = SessionRegistry<Int>(limits: ServerLimits(idleTimeoutSeconds: 10), clock: { clock.now })
        let idle = try registry.open(maxLength: 8) { 1 }
        let busy = try registry.open(maxLength: 8) { 2 }
        clock.now = 5
        try registry.use(busy.id) { _ in
            clock.now = 30
            XCTAssertEqual(registry.reapIdle(), [idle.id])
        }
        XCTAssertEqual(registry.openCount, 1)
        clock.now = 41
        XCTAssertEqual(registry.reapIdle(), [busy.id])
    }

    func testASessionRunsOneStepAtATime() throws {
        let registry = SessionRegistry<Int>(limits: ServerLimits())
        let entry = try registry.open(maxLength: 8) { 7 }
        try registry.use(entry.id) { inner in
            XCTAssertEqual(inner.state, 7)
            XCTAssertThrowsError(try registry.use(entry.id) { _ in }) {
                XCTAssertEqual($0 as? SessionError, .busy(entry.id))
            }
        }
        XCTAssertNoThrow(try registry.use(entry.id) { _ in })
    }
}
