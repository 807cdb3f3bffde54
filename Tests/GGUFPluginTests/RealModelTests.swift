import Foundation
import PluginAPI
import XCTest

/// The default model through the real plugin path: the host dlopens libGGUFPlugin.so.
final class RealModelTests: XCTestCase {
    static let modelPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    private func host() throws -> PluginHost {
        guard FileManager.default.fileExists(atPath: Self.modelPath) else {
            throw XCTSkip("model not present; run scripts/setup.sh")
        }
        return try PluginHost(directory: PluginHost.resolveDirectory())
    }

    func testDescribesSmolLM2() throws {
        let model = try host().openModel(path: Self.modelPath)
        let d = model.description
        XCTAssertEqual(d.architecture, "llama")
        XCTAssertEqual(d.blockCount, 30)
        XCTAssertEqual(d.embeddingLength, 576)
        XCTAssertEqual(d.headCount, 9)
        XCTAssertEqual(d.headCountKV, 3)
        XCTAssertEqual(d.feedForwardLength, 1536)
        XCTAssertEqual(d.vocabSize, 49152)
        XCTAssertEqual(d.tokenizer.tokens.count, 49152)
        XCTAssertEqual(d.tokenizer.merges.count, 48900)
        XCTAssertEqual(d.tokenizer.pre, "smollm")
        XCTAssertTrue(d.tiedEmbeddings)
        XCTAssertEqual(model.tensors["token_embd.weight"]?.type, .q8_0)
        XCTAssertEqual(model.tensors["blk.7.ffn_down.weight"]?.type, .q4_1)
        XCTAssertEqual(model.tensors["blk.7.ffn_down.weight"]?.dims, [1536, 576])
        let norm = try XCTUnwrap(model.tensors["output_norm.weight"])
        let values = norm.data.assumingMemoryBound(to: Float.self)
        XCTAssertTrue((0..<576).allSatisfy { values[$0].isFinite })
    }

    func testTwoShardsSplitTheTensorsBetweenThem() throws {
        let host = try host()
        let a = try host.openModel(path: Self.modelPath, blocks: 0..<15)
        let b = try host.openModel(path: Self.modelPath, blocks: 15..<30)
        let all = try host.openModel(path: Self.modelPath)
        XCTAssertEqual(a.tensors.count, 1 + 15 * 9)
        XCTAssertEqual(b.tensors.count, 15 * 9 + 2) // output norm + tied embeddings
        XCTAssertEqual(Set(a.tensors.keys).union(b.tensors.keys), Set(all.tensors.keys))
        XCTAssertNil(a.tensors["blk.15.attn_q.weight"])
        XCTAssertNil(b.tensors["blk.14.attn_q.weight"])
        XCTAssertEqual(a.description.blockStart, 0)
        XCTAssertEqual(b.description.blockEnd, 30)
    }
}
