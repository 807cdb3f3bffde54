import Foundation
import PetalsModel
import PluginAPI
import XCTest

/// The real default model, loaded once per test process through the real plugin host.
public enum TestModel {
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    public static let path = repositoryRoot.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    public static let fixtures = repositoryRoot.appendingPathComponent("Tests/Fixtures/smollm2")

    private static let lock = NSLock()
    nonisolated(unsafe) private static var cachedHost: PluginHost?
    nonisolated(unsafe) private static var cachedPool: ComputePool?
    nonisolated(unsafe) private static var cachedPipelines: [String: LocalPipeline] = [:]

    /// Skips the calling test when the model has not been fetched (scripts/setup.sh fetches it).
    public static func requireModel() throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("model not present at \(path); run scripts/setup.sh")
        }
    }

    public static func host() throws -> PluginHost {
        lock.lock(); defer { lock.unlock() }
        if let cachedHost { return cachedHost }
        let host = try PluginHost(directory: PluginHost.resolveDirectory())
        cachedHost = host
        return host
    }

    public static var pool: ComputePool {
        lock.lock(); defer { lock.unlock() }
        if let cachedPool { return cachedPool }
        let pool = ComputePool(threads: 2)
        cachedPool = pool
        return pool
    }

    /// The model as one shard (ranges nil) or as the given chain of shards.
    public static func pipeline(_ ranges: [Range<Int>]? = nil) throws -> LocalPipeline {
        try requireModel()
        let key = ranges.map { $0.map { "\($0.lowerBound):\($0.upperBound)" }.joined(separator: ",") } ?? "all"
        let host = try host()
        let pool = pool
        lock.lock(); defer { lock.unlock() }
        if let cached = cachedPipelines[key] { return cached }
        let pipeline = try LocalPipeline.load(host: host, path: path, ranges: ranges, pool: pool)
        cachedPipelines[key] = pipeline
        return pipeline
    }

    public static func tokenizer() throws -> BPETokenizer {
        try BPETokenizer(pipeline().shards[0].modelDescription.tokenizer)
    }

    /// The directory of the build products: plugins and the plumise-petals executable.
    public static var buildDirectory: String { PluginHost.resolveDirectory() }

    public static func loadJSON(_ name: String) throws -> Any {
        let url = fixtures.appendingPathComponent(name)
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url))
    }
}
