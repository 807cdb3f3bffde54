import Foundation
import PetalsModel
import PetalsSwarm
import PetalsTestSupport
import PluginAPI
import XCTest

/// BLOOM, GPT-2, Llama, Qwen2, Qwen3, Gemma 3 and Mistral safetensors models split across two shard servers in this process
/// (real TCP on 127.0.0.1): the client runs embeddings (GPT-2's learned positions included) and
/// head, the servers the blocks, and the greedy tokens are transformers'.
final class SafetensorsSwarmTests: XCTestCase {
    private func check(_ name: String) throws {
        let fixture = try SafetensorsFixture(name)
        let host = try TestModel.host()
        let blockCount = try host.openModel(path: fixture.path, blocks: 0..<0).description.blockCount
        let servers = try [0..<1, 1..<blockCount].map { range -> ShardServer in
            let shard = try ModelShard(model: host.openModel(path: fixture.path, blocks: range), pool: TestModel.pool)
            let server = ShardServer(shard: shard, transport: try host.transport(named: "tcp"), listenAddress: "127.0.0.1:0")
            try server.start()
            return server
        }
        defer { servers.forEach { $0.stop() } }
        let peers = try servers.map { try PeerAddress(parsing: $0.address) }
        let backend = try RemoteBackend(host: host, modelPath: fixture.path,
                                        directory: SwarmDirectory(peers: peers, host: host), pool: TestModel.pool)
        let generator = TextGenerator(tokenizer: try fixture.tokenizer(), backend: backend)
        for prompt in fixture.reference.prompts {
            let result = try generator.generate(promptTokens: prompt.ids, maxNewTokens: prompt.greedyIDs.count,
                                                sampling: SamplingParameters(), stopAtEndOfGeneration: false)
            XCTAssertEqual(result.tokens, prompt.greedyIDs, "\(name) across two servers: \(prompt.text.debugDescription)")
        }
    }

    func testBLOOMAcrossTwoServersGivesTransformersGreedyTokens() throws { try check("bloom-bf16") }
    func testGPT2AcrossTwoServersGivesTransformersGreedyTokens() throws { try check("gpt2") }
    func testLlamaAcrossTwoServersGivesTransformersGreedyTokens() throws { try check("llama") }
    func testQwen2AcrossTwoServersGivesTransformersGreedyTokens() throws { try check("qwen2") }
    func testQwen3AcrossTwoServersGivesTransformersGreedyTokens() throws { try check("qwen3-bf16") }
    /// Block 1 of the second server is global, its others slide: the block index the server
    /// uses for the pattern is the model's, not the shard's.
    func testGemma3AcrossTwoServersGivesTransformersGreedyTokens() throws { try check("gemma3") }
    func testMistralAcrossTwoServersGivesTransformersGreedyTokens() throws { try check("mistral") }
}
