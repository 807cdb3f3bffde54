import Foundation
import PetalsModel
import PetalsSwarm
import PetalsTestSupport
import XCTest

/// A K-quant file (llama-quantize's Q6_K file of the default model: Q6_K and Q8_0) split across
/// two real `plumise-petals serve` processes gives llama.cpp's greedy tokens. The
/// file and llama.cpp's answers come from scripts/reference/make_kquant_fixtures.sh; without
/// them the test skips, saying so.
final class KQuantSwarmTests: XCTestCase {
    struct Greedy: Decodable {
        struct Case: Decodable { let prompt: String; let prompt_ids: [Int]; let generated_ids: [Int] }
        let cases: [Case]
    }

    func testTwoServersSplittingAQ6KFileGiveLlamaCppsTokens() throws {
        let model = TestModel.repositoryRoot.appendingPathComponent("models/kquant/SmolLM2-135M-Instruct.Q6_K.gguf").path
        guard FileManager.default.fileExists(atPath: model) else {
            throw XCTSkip("\(model) is absent: scripts/reference/make_kquant_fixtures.sh makes it (needs the llama.cpp reference build)")
        }
        let url = TestModel.repositoryRoot.appendingPathComponent("Tests/Fixtures/smollm2-kquant/Q6_K/greedy.json")
        let cases = try JSONDecoder().decode(Greedy.self, from: Data(contentsOf: url)).cases
        let a = try ServerProcess(["--blocks", "0:15"] + SwarmFixtures.listenArguments("tcp", name: "ka"), model: model)
        let b = try ServerProcess(["--blocks", "15:30"] + SwarmFixtures.listenArguments("tcp", name: "kb"), model: model)
        let (generator, _) = try SwarmFixtures.remoteGenerator(peers: [a.address, b.address], model: model)
        for c in cases.prefix(3) {
            let result = try generator.generate(promptTokens: c.prompt_ids, maxNewTokens: 32, sampling: SamplingParameters())
            XCTAssertEqual(result.tokens, c.generated_ids, c.prompt.debugDescription)
        }
    }
}
