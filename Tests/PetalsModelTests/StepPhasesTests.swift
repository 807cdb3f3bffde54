import Foundation
import PetalsModel
import PetalsTestSupport
import XCTest

/// petals-bench --phases: a shard with a StepPhases fills each part of its llama-family blocks and
/// head, and timing changes none of the bits.
final class StepPhasesTests: XCTestCase {
    override func setUpWithError() throws {
        try TestModel.requireModel()
    }

    func testPhasesAreFilledAndChangeNoBits() throws {
        let shard = try TestModel.pipeline().shards[0]
        let e = shard.hp.embedding
        func step(timed phases: StepPhases?) throws -> (hidden: [UInt32], logits: [UInt32]) {
            let caches = try (0..<3).map { _ in try shard.openCache(capacity: 8) }
            let hidden = FloatBuffer(count: 3 * e)
            for (i, token) in [17, 4242, 901].enumerated() {
                (hidden.pointer + i * e).update(from: try shard.embed([token], at: 0).pointer, count: e)
            }
            shard.phases = phases
            defer { shard.phases = nil }
            try shard.forward(hidden, batch: caches.map { SequenceRows(cache: $0, rows: 1) })
            let logits = try shard.logits(hidden, rows: [0, 1, 2])
            return (hidden.array().map(\.bitPattern), logits.flatMap { $0 }.map(\.bitPattern))
        }
        let plain = try step(timed: nil)
        let phases = StepPhases()
        let timed = try step(timed: phases)
        XCTAssertEqual(timed.hidden, plain.hidden)
        XCTAssertEqual(timed.logits, plain.logits)
        for phase: StepPhases.Phase in [.norms, .queryKeyValue, .attention, .attentionOutput, .gateUp, .down, .headProduct] {
            XCTAssertGreaterThan(phases.milliseconds(phase), 0, "\(phase.name) was not timed")
        }
        phases.reset()
        for phase in StepPhases.Phase.allCases {
            XCTAssertEqual(phases.milliseconds(phase), 0, "\(phase.name) after reset")
        }
        // Unset, the shard records nothing.
        _ = try step(timed: nil)
        XCTAssertEqual(phases.milliseconds(.gateUp), 0)
    }
}
