import Foundation
import PluginAPI

/// The GGUF model-format plugin: probes for the magic, parses the header, and exposes the
/// memory-mapped tensors of the requested block range only.
struct GGUFFormatProvider: ModelFormatProvider {
    let name = "gguf"
    let version = "0.1.0"
    let summary = "GGUF v2/v3 models (F32, F16, BF16, Q4_0, Q4_1, Q8_0), memory-mapped per shard"

    func probe(path: String) -> Int32 {
        guard let handle = FileHandle(forReadingAtPath: path) else { return 0 }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 4), head.count == 4 else { return 0 }
        return head.elementsEqual([0x47, 0x47, 0x55, 0x46]) ? 100 : 0 // "GGUF"
    }

    func open(path: String, blockStart: Int, blockEnd: Int?) throws -> ExportedModel {
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch .empty {
            throw GGUFError.malformed(path: path, reason: "the file is empty")
        } catch .io(let reason) {
            throw GGUFError.io(path: path, reason: reason)
        }
        let header = try GGUFHeader(bytes: file.bytes, path: path)
        let model = try GGUFModel(header: header, path: path)
        let end = blockEnd ?? model.blockCount
        guard blockStart >= 0, blockStart <= end, end <= model.blockCount else {
            throw PluginOpenError("block range [\(blockStart), \(end)) is outside the model's \(model.blockCount) blocks of \(path)")
        }
        try model.refuseUnsupportedRotaryScaling(header: header)
        let (tensors, tied) = try model.selectTensors(blocks: blockStart..<end, file: file, header: header)
        let description = try model.describe(blocks: blockStart..<end, tiedEmbeddings: tied)
        return try ExportedModel(description: description, tensors: tensors, storage: file)
    }
}

/// What the header says about the model, in the host's vocabulary.
struct GGUFModel {
    let path: String
    let metadata: [String: GGUFValue]
    let architecture: String
    let blockCount: Int

    init(header: GGUFHeader, path: String) throws {
        self.path = path
        metadata = header.metadata
        guard let arch = header.metadata["general.architecture"]?.string else {
            throw GGUFError.malformed(path: path, reason: "general.architecture is missing")
        }
        architecture = arch
        guard let blocks = header.metadata["\(arch).block_count"]?.int, blocks > 0 else {
            throw GGUFError.malformed(path: path, reason: "\(arch).block_count is missing or not positive")
        }
        blockCount = blocks
    }

    private func arch(_ key: String) -> GGUFValue? { metadata["\(architecture).\(key)"] }

    private func requireInt(_ key: String) throws -> Int {
        guard let v = arch(key)?.int else {
            throw GGUFError.malformed(path: path, reason: "\(architecture).\(key) is missing or not an integer")
        }
        return v
    }

    /// Rotary embeddings with scaling (llama.cpp's rope.scaling.* keys, or Llama 3.1-style
    /// per-dimension frequency factors in rope_freqs.weight) change every position's angles; the
    /// kernels implement plain RoPE only, so such a model would load and produce wrong text.
    func refuseUnsupportedRotaryScaling(header: GGUFHeader) throws {
        let type = arch("rope.scaling.type")?.string
        if let type, type != "none" {
            throw GGUFError.unsupported(path: path, reason: "rope scaling '\(type)' (\(architecture).rope.scaling.type); only plain rotary embeddings are implemented")
        }
        // llama.cpp applies a factor without a type as linear scaling.
        if type == nil, let factor = arch("rope.scaling.factor")?.double, factor != 0, factor != 1 {
            throw GGUFError.unsupported(path: path, reason: "rope scaling factor \(factor) (\(architecture).rope.scaling.factor); only plain rotary embeddings are implemented")
        }
        if header.tensors.contains(where: { $0.name == "rope_freqs.weight" }) {
            throw GGUFError.unsupported(path: path, reason: "per-dimension rope frequency factors (rope_freqs.weight, Llama 3.1-style scaling); only plain rotary embeddings are implemented")
        }
    }

    /// Which tensors a shard needs: blk.N.* for N in `blocks`, token embeddings for the first
    /// shard, the final norm and head for the last (the embeddings again when the head is tied).
    func wanted(_ name: String, blocks: Range<Int>, hasOutput: Bool) -> Bool {
        if name.hasPrefix("blk.") {
            let index = name.dropFirst(4).prefix { $0.isNumber }
            return Int(index).map(blocks.contains) ?? false
        }
        let first = blocks.lowerBound == 0, last = blocks.upperBound == blockCount
        switch name {
        case "token_embd.weight": return first || (last && !hasOutput)
        case "output_norm.weight", "output_norm.bias", "output.weight": return last
        default: return false
        }
    }

    func selectTensors(blocks: Range<Int>, file: MappedFile, header: GGUFHeader) throws -> ([ExportedTensor], Bool) {
        let hasOutput = header.tensors.contains { $0.name == "output.weight" }
        var selected: [ExportedTensor] = []
        for info in header.tensors where wanted(info.name, blocks: blocks, hasOutput: hasOutput) {
            guard let type = TensorType(rawValue: info.typeID) else {
                throw GGUFError.unsupported(path: path, reason: "tensor \(info.name) has ggml type \(info.typeID) (supported: F32, F16, BF16, Q4_0, Q4_1, Q8_0)")
            }
            let (elements, overflow) = info.dims.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            guard !overflow, info.dims[0] % type.blockLayout.elements == 0, let size = type.byteCount(elements: elements) else {
                throw GGUFError.malformed(path: path, reason: "tensor \(info.name) of type \(type.name) has impossible shape \(info.dims)")
            }
            let start = header.dataOffset + info.offset
            guard start <= file.bytes.count, size <= file.bytes.count - start else {
                throw GGUFError.malformed(path: path, reason: "tensor \(info.name) extends past the end of the file (truncated?)")
            }
            selected.append(ExportedTensor(name: info.name, type: type, dims: info.dims,
                                           data: file.bytes.baseAddress! + start, byteCount: size))
        }
        for b in blocks where !selected.contains(where: { $0.name.hasPrefix("blk.\(b).") }) {
            throw GGUFError.malformed(path: path, reason: "no tensors for block \(b)")
        }
        return (selected, !hasOutput)
    }

    func describe(blocks: Range<Int>, tiedEmbeddings: Bool) throws -> ModelDescription {
        let embedding = try requireInt("embedding_length")
        let heads = try requireInt("attention.head_count")
        guard heads > 0 else { throw GGUFError.malformed(path: path, reason: "\(architecture).attention.head_count is 0") }
        let tokens = metadata["tokenizer.ggml.tokens"]?.stringArray ?? []
        let tokenizerModel = metadata["tokenizer.ggml.model"]?.string ?? ""
        let tokenizer = TokenizerDescription(
            model: tokenizerModel,
            pre: metadata["tokenizer.ggml.pre"]?.string ?? "default",
            tokens: tokens,
            tokenTypes: (metadata["tokenizer.ggml.token_type"]?.intArray ?? []).map { Int32(truncatingIfNeeded: $0) },
            merges: metadata["tokenizer.ggml.merges"]?.stringArray ?? [],
            bosTokenID: metadata["tokenizer.ggml.bos_token_id"]?.int,
            eosTokenID: metadata["tokenizer.ggml.eos_token_id"]?.int,
            // llama.cpp's default: SentencePiece vocabularies add BOS, byte-level BPE ones do not.
            addBOSToken: metadata["tokenizer.ggml.add_bos_token"]?.bool ?? (tokenizerModel == "llama"),
            chatTemplate: metadata["tokenizer.chat_template"]?.string)
        let ropeStyle: String
        switch architecture {
        case "llama": ropeStyle = "normal"
        case "bloom", "gpt2": ropeStyle = "none"
        default: ropeStyle = "neox"
        }
        return ModelDescription(
            architecture: architecture,
            name: metadata["general.name"]?.string ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent,
            blockCount: blockCount, blockStart: blocks.lowerBound, blockEnd: blocks.upperBound,
            contextLength: arch("context_length")?.int ?? 2048,
            embeddingLength: embedding,
            feedForwardLength: try requireInt("feed_forward_length"),
            headCount: heads,
            headCountKV: arch("attention.head_count_kv")?.int ?? heads,
            ropeFreqBase: Float(arch("rope.freq_base")?.double ?? 10000),
            ropeDimensionCount: arch("rope.dimension_count")?.int ?? embedding / heads,
            ropeStyle: ropeStyle,
            normEpsilon: Float(arch("attention.layer_norm_rms_epsilon")?.double
                               ?? arch("attention.layer_norm_epsilon")?.double ?? 1e-5),
            vocabSize: arch("vocab_size")?.int ?? tokens.count,
            tiedEmbeddings: tiedEmbeddings,
            modelID: ModelIdentity.derive(
                repoURL: metadata["general.repo_url"]?.string ?? metadata["general.source.repo_url"]?.string,
                organization: metadata["general.organization"]?.string, fileName: path),
            tokenizer: tokenizer)
    }
}
