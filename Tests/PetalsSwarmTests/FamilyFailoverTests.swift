import Foundation
import PetalsModel
import PetalsSwarm
import PetalsTestSupport
import XCTest

/// Every architecture beside llama through real `plumise-petals serve` processes on 127.0.0.1:
/// the model split across two servers with a replica of the second part, the replica holding
/// the session killed mid-generation, and the tokens those of the whole model in this process.
/// Tiny fixtures (Tests/Fixtures/gguf-tiny, Tests/Fixtures/safetensors), so it runs in CI.
final class FamilyFailoverTests: XCTestCase {
    private static let root = TestModel.repositoryRoot.appendingPathComponent("Tests/Fixtures")

    private func check(_ relativePath: String, split: Int) throws {
        let model = Self.root.appendingPathComponent(relativePath).path
        let host = try TestModel.host()
        let description = try host.openModel(path: model, blocks: 0..<0).description
        let tokenizer = try Tokenizer(description.tokenizer)
        let blocks = description.blockCount
        let local = TextGenerator(tokenizer: tokenizer,
                                  backend: try LocalPipeline.load(host: host, path: model, ranges: nil, pool: TestModel.pool))
        let prompt = local.tokenize("Once upon a time, a little robot")
        let expected = try local.generate(promptTokens: prompt, maxNewTokens: 16, sampling: SamplingParameters(),
                                          stopAtEndOfGeneration: false).tokens

        let first = try ServerProcess(["--blocks", "0:\(split)"] + SwarmFixtures.listenArguments("tcp", name: "f1"), model: model)
        let second = try ServerProcess(["--blocks", "\(split):\(blocks)"] + SwarmFixtures.listenArguments("tcp", name: "f2"), model: model)
        let replica = try ServerProcess(["--blocks", "\(split):\(blocks)"] + SwarmFixtures.listenArguments("tcp", name: "f3"), model: model)
        let backend = try RemoteBackend(
            host: host, modelPath: model,
            directory: SwarmDirectory(peers: [first.address, second.address, replica.address], host: host,
                                      options: SwarmFixtures.fastFailover),
            pool: TestModel.pool)
        let generator = TextGenerator(tokenizer: tokenizer, backend: backend)
        var pieces = 0
        var killed: ServerProcess?
        let result = try generator.generate(promptTokens: prompt, maxNewTokens: 16, sampling: SamplingParameters(),
                                            stopAtEndOfGeneration: false) { _ in
            pieces += 1
            guard pieces == 6, killed == nil else { return }
            killed = [second, replica].first { server in
                ((try? backend.directory.connect(server.address).info().openSessions) ?? 0) > 0
            }
            killed?.kill(SIGKILL)
        }
        XCTAssertNotNil(killed, "\(relativePath): no server of blocks \(split):\(blocks) held the session")
        XCTAssertEqual(killed?.waitForExit(), SIGKILL, relativePath)
        XCTAssertEqual(result.tokens, expected, "\(relativePath): split \(split) with failover")
    }

    func testQwen2FailsOverWithTheWholeModelsTokens() throws { try check("gguf-tiny/qwen2-tiny-q8_0.gguf", split: 1) }
    func testQwen3FailsOverWithTheWholeModelsTokens() throws { try check("gguf-tiny/qwen3-tiny-f32.gguf", split: 1) }
    func testGemma3FailsOverWithTheWholeModelsTokens() throws { try check("gguf-tiny/gemma3-tiny-f32.gguf", split: 3) }
    func testMistralStyleLlamaFailsOverWithTheWholeModelsTokens() throws { try check("gguf-tiny/mistral-tiny-q8_0.gguf", split: 1) }
    func testGemma3SafetensorsFailsOverWithTheWholeModelsTokens() throws { try check("safetensors/gemma3", split: 2) }
}
