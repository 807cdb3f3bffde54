import Foundation
import PetalsModel
@testable import PetalsSwarm
import PetalsTestSupport
import XCTest

/// The swarm client's shared output head: which servers count as this machine's, when sessions
/// are due back, and groups of sessions on local routes merging into one product (the real head
/// of the default model, real threads).
final class HeadBatcherTests: XCTestCase {
    func testServersOnThisMachine() throws {
        for local in ["unix:///run/petals.sock", "tcp://127.0.0.1:31330", "127.0.0.2:9", "tcp://[::1]:31330",
                      "localhost:31330", "tls://127.0.0.1:31330?ca=/etc/ca.pem"] {
            XCTAssertTrue(try PeerAddress(parsing: local).isOnThisMachine, local)
        }
        for remote in ["tcp://203.0.113.7:31330", "tcp://[2001:db8::1]:31330", "tcp://petals.example.org:31330",
                       "198.51.100.1:9"] {
            XCTAssertFalse(try PeerAddress(parsing: remote).isOnThisMachine, remote)
        }
        // Every address of this machine's interfaces (a LAN address included) is this machine.
        XCTAssertTrue(LocalInterfaces.addresses.contains("127.0.0.1"), "\(LocalInterfaces.addresses)")
        for address in LocalInterfaces.addresses {
            let written = address.contains(":") ? "tcp://[\(address)]:31330" : "tcp://\(address):31330"
            XCTAssertTrue(try PeerAddress(parsing: written).isOnThisMachine, written)
        }
    }

    func testSessionsAreDueBackOnePeriodAfterTheirLastAsk() {
        let owners = [NSObject(), NSObject()] // alive: distinct identifiers
        let a = ObjectIdentifier(owners[0]), b = ObjectIdentifier(owners[1])
        var rhythm = SessionRhythm()
        rhythm.visit(a, at: 10)
        XCTAssertTrue(rhythm.due(except: [], now: 10.5, within: 5).isEmpty, "one ask gives no period")
        rhythm.visit(a, at: 11)
        rhythm.visit(b, at: 10.2)
        rhythm.visit(b, at: 10.4) // period 0.2: due at 10.7
        let due = Dictionary(uniqueKeysWithValues: rhythm.due(except: [], now: 11.1, within: 5))
        XCTAssertEqual(due[a] ?? 0, 11 + 1 * SessionRhythm.slack, accuracy: 1e-9)
        XCTAssertNil(due[b], "past its due time: stalled, nobody waits for it")
        XCTAssertTrue(rhythm.due(except: [a], now: 11.1, within: 5).isEmpty, "already present")
        XCTAssertTrue(rhythm.due(except: [], now: 11.1, within: 0.1).isEmpty, "due later than the wait allowed")
        rhythm.forget(a)
        XCTAssertFalse(rhythm.isKnown(a))
        XCTAssertTrue(rhythm.due(except: [], now: 11.1, within: 5).isEmpty)
    }

    /// Two groups of two sessions, stepping every 25 ms a third of a period apart: on local routes
    /// the head waits for the second group and then runs all four rows together; every row's
    /// logits stay its solo ones.
    func testGroupsOfSessionsOnLocalRoutesMerge() throws {
        try TestModel.requireModel()
        let model = try TestModel.host().openModel(path: TestModel.path, blocks: 30..<30)
        let head = try ModelShard(model: model, pool: TestModel.pool, maxBatch: 1)
        guard head.headBatchesExactly else { throw XCTSkip("this head takes one row at a time") }
        let e = head.hp.embedding
        let rows: [[Float]] = (0..<4).map { s in (0..<e).map { Float(sin(Double($0 * (s + 3)))) } }
        let solo = try rows.map { row -> [Float] in
            let buffer = FloatBuffer(count: e)
            buffer.pointer.update(from: row, count: e)
            return try head.logits(buffer, rows: [0])[0]
        }
        let batcher = HeadBatcher(head: head)
        let owners = (0..<4).map { _ in NSObject() }
        let steps = 12
        let lock = NSLock()
        var mismatches = 0
        runConcurrently(4) { s in
            Thread.sleep(forTimeInterval: s < 2 ? 0 : 0.009) // the second group starts later
            for _ in 0..<steps {
                let logits = (try? batcher.logits(rows[s], session: ObjectIdentifier(owners[s]), routeIsLocal: true)) ?? []
                if logits != solo[s] { lock.withLock { mismatches += 1 } }
                Thread.sleep(forTimeInterval: 0.025) // the route's servers
            }
            batcher.forget(ObjectIdentifier(owners[s]))
        }
        XCTAssertEqual(mismatches, 0, "a row's logits differ from its solo ones")
        let stats = batcher.statistics
        XCTAssertEqual(stats.rows, 4 * steps)
        XCTAssertEqual(stats.largestProduct, 4, "the two groups never merged: \(stats)")
        XCTAssertLessThan(stats.products, 2 * steps, "the groups kept running apart: \(stats)")
    }
}
