import Foundation
import PluginAPI
import XCTest

/// Where the tokenizer tests get SmolLM2's vocabulary: from the real model file through the
/// model-format plugin, exactly as the node does. `PETALS_TOKENIZER_JSON` (a TokenizerDescription
/// as JSON, e.g. dumped from the GGUF) replaces that path for development only.
enum TokenizerSource {
    /// The repository root, found from this file's location.
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let modelPath = repositoryRoot.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    static let fixturesDirectory = repositoryRoot.appendingPathComponent("Tests/Fixtures/smollm2")

    private static let lock = NSLock()
    nonisolated(unsafe) private static var cached: Result<TokenizerDescription, Error>?

    /// SmolLM2's tokenizer description; skips the test when the model file is absent or no
    /// plugin can read it yet.
    static func smolLM2() throws -> TokenizerDescription {
        lock.lock()
        defer { lock.unlock() }
        if cached == nil { cached = Result { try load() } }
        return try cached!.get()
    }

    private static func load() throws -> TokenizerDescription {
        if let json = ProcessInfo.processInfo.environment["PETALS_TOKENIZER_JSON"], !json.isEmpty {
            let data = try Data(contentsOf: URL(fileURLWithPath: json))
            return try JSONDecoder().decode(TokenizerDescription.self, from: data)
        }
        guard FileManager.default.fileExists(atPath: modelPath) else {
            throw XCTSkip("model file not present: \(modelPath) (run scripts/setup.sh)")
        }
        let host = try PluginHost(directory: PluginHost.resolveDirectory())
        do {
            let model = try host.openModel(path: modelPath, blocks: 0..<1)
            return model.description.tokenizer
        } catch PluginError.noPluginFor {
            throw XCTSkip("no model-format plugin can read \(modelPath) yet (failures: \(host.failures))")
        }
    }
}
