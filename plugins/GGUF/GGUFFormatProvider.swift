import Foundation
import PluginAPI

/// The GGUF model-format plugin: probes for the magic, parses the header, and exposes the
/// memory-mapped tensors of the requested block range only.
struct GGUFFormatProvider: ModelFormatProvider {
    let name = "gguf"
    let version = "0.1.0"
    let summary = "GGUF v2/v3 models (\(TensorType.supportedNames)), memory-mapped per shard"

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
        try model.refuseMixtureOfExperts()
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

    /// Mixtral-style files say llama too, with `expert_count` experts per feed-forward
    /// (ffn_gate_exps and a router) instead of one: refused by name rather than as missing tensors.
    func refuseMixtureOfExperts() throws {
        if let experts = arch("expert_count")?.int, experts > 0 {
            throw GGUFError.unsupported(path: path, reason: "a mixture of \(experts) experts per block (\(architecture).expert_count); only dense feed-forward blocks are implemented")
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
                throw GGUFError.unsupported(path: path, reason: "tensor \(info.name) has ggml type \(info.typeID) (supported: \(TensorType.supportedNames))")
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

    /// `attention.key_length` when it differs from embedding / heads (Qwen3, Gemma 3); models
    /// whose values have another size than their keys are refused.
    func headDim(embedding: Int, heads: Int) throws -> Int? {
        guard let keys = arch("attention.key_length")?.int else { return nil }
        if let values = arch("attention.value_length")?.int, values != keys {
            throw GGUFError.unsupported(path: path, reason: "attention.key_length \(keys) differs from attention.value_length \(values)")
        }
        return keys == embedding / heads && embedding % heads == 0 ? nil : keys
    }

    /// `attention.sliding_window_pattern` as a period; a per-block list is refused by name.
    func slidingWindowPattern() throws -> Int? {
        guard let value = arch("attention.sliding_window_pattern") else { return nil }
        guard let period = value.int else {
            throw GGUFError.unsupported(path: path, reason: "\(architecture).attention.sliding_window_pattern is a per-block list; only a period is implemented")
        }
        return period
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
            addBOSToken: metadata["tokenizer.ggml.add_bos_token"]?.bool
                ?? Self.addsBOSByDefault(model: tokenizerModel, pre: metadata["tokenizer.ggml.pre"]?.string),
            chatTemplate: metadata["tokenizer.chat_template"]?.string,
            scores: metadata["tokenizer.ggml.scores"]?.floatArray,
            addSpacePrefix: metadata["tokenizer.ggml.add_space_prefix"]?.bool,
            unknownTokenID: metadata["tokenizer.ggml.unknown_token_id"]?.int)
        let ropeStyle: String
        switch architecture {
        case "llama": ropeStyle = "normal"
        case "bloom", "gpt2": ropeStyle = "none"
        default: ropeStyle = "neox"
        }
        var description = ModelDescription(
            architecture: architecture,
            name: metadata["general.name"]?.string ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent,
            blockCount: blockCount, blockStart: blocks.lowerBound, blockEnd: blocks.upperBound,
            contextLength: arch("context_length")?.int ?? 2048,
            embeddingLength: embedding,
            feedForwardLength: try requireInt("feed_forward_length"),
            headCount: heads,
            headCountKV: arch("attention.head_count_kv")?.int ?? heads,
            ropeFreqBase: Float(arch("rope.freq_base")?.double ?? 10000),
            ropeDimensionCount: arch("rope.dimension_count")?.int ?? arch("attention.key_length")?.int ?? embedding / heads,
            ropeStyle: ropeStyle,
            normEpsilon: Float(arch("attention.layer_norm_rms_epsilon")?.double
                               ?? arch("attention.layer_norm_epsilon")?.double ?? 1e-5),
            vocabSize: arch("vocab_size")?.int ?? tokens.count,
            tiedEmbeddings: tiedEmbeddings,
            modelID: ModelIdentity.derive(
                repoURL: metadata["general.repo_url"]?.string ?? metadata["general.source.repo_url"]?.string,
                organization: metadata["general.organization"]?.string, fileName: path),
            headDim: try headDim(embedding: embedding, heads: heads),
            slidingWindow: arch("attention.sliding_window")?.int,
            slidingWindowPattern: try slidingWindowPattern(),
            ropeFreqBaseSliding: arch("rope.freq_base_swa")?.double.map { Float($0) },
            attentionScale: try attentionScale(),
            tokenizer: tokenizer)
        // Gemma's gate as llama.cpp's CPU backend computes it; other architectures' own.
        if architecture == "gemma3" { description.activation = "gelu_tanh_f16_table" }
        return description
    }

    /// llama.cpp's default when the file does not say: SentencePiece vocabularies add BOS, and so
    /// do the byte-level ones whose pre-tokenizer llama.cpp sets add_bos for (Llama 3's and
    /// Mistral's: pixtral, tekken); other byte-level BPE vocabularies do not.
    static func addsBOSByDefault(model: String, pre: String?) -> Bool {
        model == "llama" || ["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "tekken"].contains(pre ?? "")
    }

    /// `llama.attention.scale`, which llama.cpp's llama graph uses instead of 1 / sqrt(head size)
    /// when it is set (and nonzero); the other architectures' graphs ignore the key.
    func attentionScale() throws -> Float? {
        guard architecture == "llama", let value = arch("attention.scale") else { return nil }
        guard let scale = value.double else {
            throw GGUFError.malformed(path: path, reason: "llama.attention.scale is not a number")
        }
        return scale == 0 ? nil : Float(scale)
    }
}
