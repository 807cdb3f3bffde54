import Foundation
import PetalsModel
import PetalsTestSupport
import PluginAPI
import XCTest

/// Safetensors directories through the real plugin host (libSafetensorsPlugin.so over the C ABI).
final class SafetensorsHostTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("st-host-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    /// A copy of a fixture directory that the test may break.
    private func copy(_ name: String) throws -> URL {
        let target = scratch.appendingPathComponent(name)
        try FileManager.default.copyItem(at: SafetensorsFixture.directory.appendingPathComponent(name), to: target)
        return target
    }

    private func openError(_ path: URL) throws -> String {
        do {
            _ = try TestModel.host().openModel(path: path.path)
            XCTFail("\(path.lastPathComponent) opened")
            return ""
        } catch let error as PluginError {
            return "\(error)"
        }
    }

    func testTheHostPicksTheSafetensorsPluginForDirectoriesAndTheirFiles() throws {
        let host = try TestModel.host()
        let directory = SafetensorsFixture.directory.appendingPathComponent("gpt2")
        XCTAssertEqual(try host.openModel(path: directory.path).plugin.name, "safetensors")
        XCTAssertEqual(try host.openModel(path: directory.appendingPathComponent("model.safetensors").path).plugin.name, "safetensors")
        let shard = try host.openModel(path: SafetensorsFixture.directory.appendingPathComponent("llama").path, blocks: 1..<2)
        XCTAssertEqual(Set(shard.tensors.keys).count, 9, "a middle shard maps its block only")
    }

    func testBrokenDirectoriesFailWithMessagesNamingFileAndTensor() throws {
        let gpt2 = try copy("gpt2")
        let model = gpt2.appendingPathComponent("model.safetensors")
        var bytes = try Data(contentsOf: model)
        bytes.replaceSubrange(0..<8, with: [0xff, 0xff, 0xff, 0, 0, 0, 0, 0])
        try bytes.write(to: model)
        var message = try openError(gpt2)
        XCTAssertTrue(message.contains("\(model.path) is not a valid safetensors file: the header length 16777215 runs past the end"), message)

        let bloom = try copy("bloom-bf16")
        let config = bloom.appendingPathComponent("config.json")
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: config)) as? [String: Any])
        object["hidden_size"] = 48
        try JSONSerialization.data(withJSONObject: object).write(to: config)
        message = try openError(bloom)
        XCTAssertTrue(message.contains("has shape [") && message.contains("but config.json implies [") && message.contains("48"), message)

        let llama = try copy("llama")
        try FileManager.default.removeItem(at: llama.appendingPathComponent("model-00002-of-00003.safetensors"))
        message = try openError(llama)
        XCTAssertTrue(message.contains("refers to model-00002-of-00003.safetensors, which does not exist"), message)
    }

    /// A copy of fixture `name` whose config.json `edit` changes.
    private func editedConfig(_ name: String, _ edit: (inout [String: Any]) -> Void) throws -> URL {
        let directory = scratch.appendingPathComponent("\(name)-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: SafetensorsFixture.directory.appendingPathComponent(name), to: directory)
        let config = directory.appendingPathComponent("config.json")
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: config)) as? [String: Any])
        edit(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: config)
        return directory
    }

    /// Settings of the newer families the host does not implement are refused by name; Mistral's
    /// sliding window caps the context (full attention within it attends the same positions).
    func testFamilySettingsAreHonouredOrRefusedByName() throws {
        let refusals: [(String, (inout [String: Any]) -> Void, String)] = [
            ("gemma3", { $0["model_type"] = "gemma3" }, "only the text-only 'gemma3_text'"),
            ("gemma3", { $0["final_logit_softcapping"] = 30.0 }, "final_logit_softcapping is set"),
            ("gemma3", { $0["layer_types"] = ["full_attention", "sliding_attention", "sliding_attention", "full_attention", "sliding_attention"] },
             "not a repeating pattern"),
            ("gemma3", { $0["rope_parameters"] = ["full_attention": ["rope_type": "linear", "factor": 8.0, "rope_theta": 1e6],
                                                  "sliding_attention": ["rope_type": "default", "rope_theta": 1e4]] },
             "rope type 'linear' (full_attention)"),
            ("qwen2", { $0["use_sliding_window"] = true }, "use_sliding_window is true"),
            ("qwen3-bf16", { $0["attention_bias"] = true }, "attention_bias is true"),
            // A llama head_dim of its own is read (as transformers reads it): q_proj then has
            // 4 heads of 32 rows, which this fixture's weights have not.
            ("llama", { $0["head_dim"] = 32 }, "self_attn.q_proj.weight"),
            ("llama", { $0["head_dim"] = 32 }, "config.json implies [128, 64]"),
            ("llama", { $0["head_dim"] = 0 }, "head_dim 0 is not positive"),
        ]
        for (name, edit, reason) in refusals {
            let message = try openError(try editedConfig(name, edit))
            XCTAssertTrue(message.contains(reason), "\(name): \(message)")
        }
        let windowed = try editedConfig("mistral") { $0["sliding_window"] = 16 }
        XCTAssertEqual(try TestModel.host().openModel(path: windowed.path, blocks: 0..<0).description.contextLength, 16)
        let gemma = try TestModel.host().openModel(path: SafetensorsFixture.directory.appendingPathComponent("gemma3").path,
                                                   blocks: 0..<0).description
        XCTAssertEqual(gemma.slidingWindow, 4)
        XCTAssertEqual(gemma.slidingWindowPattern, 2)
        XCTAssertEqual(gemma.ropeFreqBase, 1e6)
        XCTAssertEqual(gemma.ropeFreqBaseSliding, 1e4)
        XCTAssertEqual(try XCTUnwrap(gemma.attentionScale), 1 / Float(24).squareRoot(), accuracy: 1e-7)
        XCTAssertEqual(gemma.headDim, 32)
        XCTAssertEqual(gemma.activation, "gelu_tanh")
    }

    func testTheCommandLineGeneratesFromASafetensorsDirectory() throws {
        let executable = TestModel.buildDirectory + "/plumise-petals"
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw XCTSkip("\(executable) is not built (run swift build before swift test)")
        }
        let fixture = try SafetensorsFixture("bloom-bf16")
        let prompt = fixture.reference.prompts[0]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["generate", "--model", fixture.path, "--prompt", prompt.text, "--max-new-tokens",
                             "\(prompt.greedyIDs.count)", "--token-ids", "--quiet", "--threads", "1"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, output)
        XCTAssertTrue(output.contains("prompt ids: \(prompt.ids)"), output)
        XCTAssertTrue(output.contains("generated ids: \(prompt.greedyIDs)"), output)
    }
}
