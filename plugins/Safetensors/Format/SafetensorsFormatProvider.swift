import Foundation
import PluginAPI

/// The Safetensors model-format plugin: a Hugging Face model directory (config.json,
/// tokenizer.json, one or more *.safetensors files, model.safetensors.index.json when
/// sharded) of a BLOOM, GPT-2, Llama, Mistral, Qwen2, Qwen3 or Gemma 3 (text) model. Only the tensors of the requested blocks are
/// mapped; GPT-2's Conv1D weights and BLOOM's fused QKV are rearranged into the host layout.
public struct SafetensorsFormatProvider: ModelFormatProvider {
    public let name = "safetensors"
    public let version = "0.1.0"
    public let summary = "Hugging Face safetensors directories (BLOOM, GPT-2, Llama, Mistral, Qwen2, Qwen3, Gemma 3; F32, F16, BF16), memory-mapped per shard"

    public init() {}

    /// The model directory of `path`: the directory itself, or the directory of a .safetensors file.
    static func directory(of path: String) -> URL? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return nil }
        let url = URL(fileURLWithPath: path)
        if isDirectory.boolValue { return url }
        return path.hasSuffix(".safetensors") ? url.deletingLastPathComponent() : nil
    }

    public func probe(path: String) -> Int32 {
        guard let directory = Self.directory(of: path) else { return 0 }
        let fm = FileManager.default
        guard fm.fileExists(atPath: directory.appendingPathComponent("config.json").path) else { return 0 }
        if fm.fileExists(atPath: directory.appendingPathComponent(TensorStore.indexFile).path) { return 100 }
        let files = (try? fm.contentsOfDirectory(atPath: directory.path)) ?? []
        return files.contains { $0.hasSuffix(".safetensors") } ? 100 : 0
    }

    public func open(path: String, blockStart: Int, blockEnd: Int?) throws -> ExportedModel {
        guard let directory = Self.directory(of: path) else {
            throw SafetensorsError.io(path: path, reason: "not a model directory or .safetensors file")
        }
        let file = { (name: String) in directory.appendingPathComponent(name).path }
        let config = try ConfigJSON(path: file("config.json"))
        let layout = try CheckpointLayouts.layout(for: config)
        let end = blockEnd ?? layout.blockCount
        guard blockStart >= 0, blockStart <= end, end <= layout.blockCount else {
            throw SafetensorsError.badConfig(path: file("config.json"),
                                             reason: "block range [\(blockStart), \(end)) is outside the model's \(layout.blockCount) blocks")
        }
        let blocks = blockStart..<end
        let tokenizer = try TokenizerJSON(path: file("tokenizer.json")).describe(
            modelConfig: config, tokenizerConfig: try ConfigJSON.optional(path: file("tokenizer_config.json")),
            chatTemplateFile: file("chat_template.jinja"))

        let store = try TensorStore(directory: directory)
        let resolved = try Self.neededTensors(layout: layout, blocks: blocks).map { spec, purpose in
            try Self.resolve(spec, purpose: purpose, in: store)
        }
        let storage = ModelStorage()
        let tensors = try TensorMapper.map(resolved, into: storage)
        var description = layout.describe(name: directory.lastPathComponent, blocks: blocks, tokenizer: tokenizer)
        description.modelID = Self.modelID(config: config, directory: directory)
        return try ExportedModel(description: description, tensors: tensors, storage: storage)
    }

    /// config.json's `_name_or_path` when it is a Hugging Face id ("Org/Name", as transformers
    /// writes it for a model loaded from the hub), else the directory's name.
    static func modelID(config: ConfigJSON, directory: URL) -> String {
        if let path = config.string("_name_or_path"), !path.hasPrefix("/"), !path.hasPrefix("."),
           path.split(separator: "/", omittingEmptySubsequences: false).count == 2,
           !path.contains(where: \.isWhitespace), !path.hasPrefix("/"), !path.hasSuffix("/") {
            return path
        }
        return directory.lastPathComponent
    }

    /// The tensors of `blocks`, the embeddings for the first shard, the final norm and head
    /// for the last (the embeddings too when the head is tied to them); with what each is for.
    static func neededTensors(layout: CheckpointLayout, blocks: Range<Int>) -> [(TensorSpec, String)] {
        var needed: [(TensorSpec, String)] = []
        let first = blocks.lowerBound == 0, last = blocks.upperBound == layout.blockCount
        if first {
            needed += layout.embeddingTensors.map { ($0, "the token embeddings") }
        } else if last && layout.tiedEmbeddings, let embeddings = layout.embeddingTensors.first {
            needed.append((embeddings, "the output head (tied to the token embeddings)"))
        }
        for block in blocks {
            needed += layout.blockTensors(block).map { ($0, "block \(block)") }
        }
        if last {
            needed += layout.headTensors.map { ($0, "the output head") }
        }
        return needed
    }

    /// Finds `spec` in the checkpoint and checks its dtype and shape.
    static func resolve(_ spec: TensorSpec, purpose: String, in store: TensorStore) throws -> ResolvedTensor {
        guard let name = spec.sources.first(where: store.contains), let (header, entry) = try store.entry(name) else {
            throw SafetensorsError.missingTensor(name: spec.sources[0], directory: store.directory.path, neededFor: purpose)
        }
        guard let type = entry.tensorType else {
            throw SafetensorsError.unsupportedDType(name: name, path: header.path, dtype: entry.dtype)
        }
        guard entry.shape == spec.shape else {
            throw SafetensorsError.wrongShape(name: name, path: header.path, found: entry.shape, expected: spec.shape)
        }
        return ResolvedTensor(spec: spec, header: header, entry: entry, type: type)
    }
}
