import PluginAPI

/// How a checkpoint tensor is rearranged into the host's layout (ggml conventions: a weight
/// y = W x is stored as out-features rows of in-features each).
enum TensorTransform: Equatable {
    /// Used as stored (memory-mapped, no copy).
    case none
    /// GPT-2's Conv1D stores [in, out]; the host wants [out, in].
    case transpose
    /// BLOOM's fused query_key_value keeps each head's q, k and v rows together; the host
    /// wants every head's q rows, then every k row, then every v row (llama.cpp's attn_qkv).
    case groupQKVByPart(heads: Int, headDim: Int)
    /// Gemma's RMSNorm scales by 1 + w; the host's by its weight. Widened to F32 and 1 added
    /// (in f32, as transformers computes 1.0 + weight.float()).
    case addOne
}

/// One tensor a shard needs: its canonical name, where the checkpoint keeps it and the
/// shape config.json implies.
struct TensorSpec {
    let canonical: String
    /// Checkpoint names tried in order (checkpoints saved from the base model lack the
    /// "transformer." prefix of those saved from the LM-head model).
    let sources: [String]
    /// PyTorch order, as in the checkpoint.
    let shape: [Int]
    var transform: TensorTransform = .none

    /// ggml order after the transform: dims[0] is the row length.
    var hostDims: [Int] {
        switch transform {
        case .transpose: return shape // [in, out] reversed twice
        case .none, .groupQKVByPart, .addOne: return shape.reversed()
        }
    }
}

/// The sizes and settings config.json gives, in the host's terms, whatever the architecture
/// calls them; the one place they become a ModelDescription.
struct ModelShape {
    var blockCount = 0
    var embedding = 0
    var feedForward = 0
    var heads = 0
    var kvHeads = 0
    var vocabulary = 0
    var contextLength = 0
    var normEpsilon = 1e-5
    var tiedEmbeddings = true
    var ropeBase = 0.0
    var ropeDims = 0
    var ropeStyle = "none"
    var activation = "gelu_tanh"
    /// Values per head when it is not embedding / heads (Qwen3, Gemma 3, Mistral Nemo).
    var headDim: Int?
    /// Sliding-window attention: window, period of the global blocks, their rotary base.
    var slidingWindow: Int?
    var slidingWindowPattern: Int?
    var ropeBaseSliding: Double?
    /// The attention's score scale when it is not 1 / sqrt(head size).
    var attentionScale: Double?
}

/// A Hugging Face architecture: config.json read into the host's description, and the
/// checkpoint's tensor names and shapes in the host's canonical naming.
protocol CheckpointLayout {
    /// The host's architecture name.
    var architecture: String { get }
    var shape: ModelShape { get }
    /// Tensors of block `block`.
    func blockTensors(_ block: Int) -> [TensorSpec]
    /// Tensors of the first shard besides its blocks (token embeddings first).
    var embeddingTensors: [TensorSpec] { get }
    /// The final norm of the last shard.
    var outputNormTensors: [TensorSpec] { get }
}

extension CheckpointLayout {
    var blockCount: Int { shape.blockCount }
    var tiedEmbeddings: Bool { shape.tiedEmbeddings }

    /// Tensors of the last shard besides its blocks: the final norm, and the output head unless
    /// it is tied to the token embeddings.
    var headTensors: [TensorSpec] {
        outputNormTensors + (tiedEmbeddings ? [] : [
            TensorSpec(canonical: "output.weight", sources: ["lm_head.weight"], shape: [shape.vocabulary, shape.embedding]),
        ])
    }

    func describe(name: String, blocks: Range<Int>, tokenizer: TokenizerDescription) -> ModelDescription {
        let s = shape
        return ModelDescription(
            architecture: architecture, name: name, blockCount: s.blockCount,
            blockStart: blocks.lowerBound, blockEnd: blocks.upperBound, contextLength: s.contextLength,
            embeddingLength: s.embedding, feedForwardLength: s.feedForward, headCount: s.heads, headCountKV: s.kvHeads,
            ropeFreqBase: Float(s.ropeBase), ropeDimensionCount: s.ropeDims, ropeStyle: s.ropeStyle,
            normEpsilon: Float(s.normEpsilon), vocabSize: s.vocabulary, tiedEmbeddings: s.tiedEmbeddings,
            activation: s.activation, headDim: s.headDim, slidingWindow: s.slidingWindow,
            slidingWindowPattern: s.slidingWindowPattern, ropeFreqBaseSliding: s.ropeBaseSliding.map { Float($0) },
            attentionScale: s.attentionScale.map { Float($0) }, tokenizer: tokenizer)
    }
}

enum CheckpointLayouts {
    static let supported = ["bloom", "gemma3_text", "gpt2", "llama", "mistral", "qwen2", "qwen3"]

    /// The layout for config.json's model_type (or its first "architectures" entry).
    static func layout(for config: ConfigJSON) throws -> CheckpointLayout {
        let declared = config.string("model_type")
            ?? ((config.values["architectures"] as? [String])?.first).map(modelType(ofClass:))
        switch declared {
        case "llama": return try LlamaLayout(config, variant: .llama)
        case "mistral": return try LlamaLayout(config, variant: .mistral)
        case "qwen2": return try LlamaLayout(config, variant: .qwen2)
        case "qwen3": return try LlamaLayout(config, variant: .qwen3)
        case "gemma3_text": return try Gemma3Layout(config)
        case "gemma3":
            throw SafetensorsError.unsupported(
                path: config.path,
                reason: "model_type 'gemma3' (Gemma3ForConditionalGeneration, a vision model around the text one); only the text-only 'gemma3_text' checkpoints are implemented")
        case "bloom": return try BloomLayout(config)
        case "gpt2": return try GPT2Layout(config)
        default:
            throw SafetensorsError.unsupported(
                path: config.path,
                reason: "model_type '\(declared ?? "none")' (supported: \(supported.joined(separator: ", ")))")
        }
    }

    private static func modelType(ofClass name: String) -> String {
        switch name {
        case "LlamaForCausalLM": return "llama"
        case "MistralForCausalLM": return "mistral"
        case "Qwen2ForCausalLM": return "qwen2"
        case "Qwen3ForCausalLM": return "qwen3"
        case "Gemma3ForCausalLM": return "gemma3_text"
        case "BloomForCausalLM", "BloomModel": return "bloom"
        case "GPT2LMHeadModel", "GPT2Model": return "gpt2"
        default: return name
        }
    }

    /// `name`, then `name` under each prefix.
    static func names(_ name: String, prefixes: [String]) -> [String] {
        [name] + prefixes.map { $0 + name }
    }
}
