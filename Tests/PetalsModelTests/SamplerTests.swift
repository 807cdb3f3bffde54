import PetalsModel
import XCTest

final class SamplerTests: XCTestCase {
    private let logits: [Float] = [0.5, 3.0, -1.0, 3.0, 2.5, 0.0]

    func testGreedyPicksTheLargestLogitAndTheLowestIndexOnTies() throws {
        var sampler = try Sampler(SamplingParameters(temperature: 0))
        XCTAssertEqual(sampler.sample(logits, history: []), 1)
        XCTAssertEqual(Sampler.argmax([1, 5, 5, 2]), 1)
    }

    func testTopKOfOneIsGreedyWhateverTheTemperature() throws {
        var sampler = try Sampler(SamplingParameters(temperature: 5, topK: 1, seed: 7))
        for _ in 0..<50 { XCTAssertEqual(sampler.sample(logits, history: []), 1) }
    }

    func testTheSameSeedGivesTheSameDraws() throws {
        let params = SamplingParameters(temperature: 1.5, topK: 0, topP: 1, seed: 42)
        var a = try Sampler(params), b = try Sampler(params)
        let drawsA = (0..<100).map { _ in a.sample(logits, history: []) }
        let drawsB = (0..<100).map { _ in b.sample(logits, history: []) }
        XCTAssertEqual(drawsA, drawsB)
        XCTAssertGreaterThan(Set(drawsA).count, 2, "a hot sampler should visit several tokens")
    }

    func testTopPKeepsOnlyTheNucleus() throws {
        // Token 0 carries ~88% of the mass: top-p 0.5 must always pick it.
        var sampler = try Sampler(SamplingParameters(temperature: 1, topK: 0, topP: 0.5, seed: 1))
        for _ in 0..<100 { XCTAssertEqual(sampler.sample([4, 2, 1, 0], history: []), 0) }
    }

    func testSamplingFollowsTheDistribution() throws {
        // softmax([log 3, log 1]) = [0.75, 0.25]
        var sampler = try Sampler(SamplingParameters(temperature: 1, topK: 0, topP: 1, seed: 3))
        let draws = (0..<4000).map { _ in sampler.sample([Float(log(3.0)), 0], history: []) }
        let share = Double(draws.filter { $0 == 0 }.count) / Double(draws.count)
        XCTAssertEqual(share, 0.75, accuracy: 0.03)
    }

    func testRepetitionPenaltyDemotesRecentTokens() throws {
        var sampler = try Sampler(SamplingParameters(temperature: 0, repetitionPenalty: 2))
        // Token 1 (3.0 → 1.5) and 3 (3.0 → 1.5) are recent: 4 (2.5) wins.
        XCTAssertEqual(sampler.sample(logits, history: [1, 3]), 4)
        // Negative logits are pushed further down, not up.
        var negative = try Sampler(SamplingParameters(temperature: 0, repetitionPenalty: 2))
        XCTAssertEqual(negative.sample([-1, -1.5], history: [0]), 1)
    }

    func testInvalidParametersNameTheParameter() {
        let cases: [(SamplingParameters, String)] = [
            (SamplingParameters(temperature: -1), "temperature"),
            (SamplingParameters(topP: 0), "top_p"),
            (SamplingParameters(topP: 1.5), "top_p"),
            (SamplingParameters(topK: -2), "top_k"),
            (SamplingParameters(repetitionPenalty: 0), "repetition_penalty"),
        ]
        for (params, name) in cases {
            XCTAssertThrowsError(try Sampler(params)) { XCTAssertTrue("\($0)".contains(name), "\($0)") }
        }
    }
}
