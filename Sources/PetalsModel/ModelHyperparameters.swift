import CKernels
import PluginAPI

/// The transformer families the shard forward pass runs. The architecture fixes the block's
/// structure; the description gives its sizes.
public enum Architecture: String, Sendable, CaseIterable {
    /// RMSNorm, rotary positions, grouped-query attention, SwiGLU feed-forward (also the
    /// Mistral family, whose GGUF files say llama).
    case llama
    /// The llama block with biases on the Q, K and V projections (Qwen2, Qwen2.5).
    case qwen2
    /// The llama block with a per-head RMSNorm of q and k, no biases, and a head size of its own.
    case qwen3
    /// Gemma 3: scaled embeddings, norms before and after attention and feed-forward, q/k norms,
    /// GELU-gated feed-forward, sliding-window blocks (Gemma3Block.swift).
    case gemma3
    /// LayerNorm (on the word embeddings too), ALiBi attention bias, fused QKV, GELU.
    case bloom
    /// LayerNorm, learned position embeddings, fused QKV, GELU.
    case gpt2
}

/// How a model knows where a token is.
public enum PositionEncoding: Equatable, Sendable {
    /// Rotary embeddings of the first `dims` dims of each head (llama); `style` is CK_ROPE_NORMAL
    /// (adjacent pairs, GGUF) or CK_ROPE_NEOX (halves, Hugging Face).
    case rotary(dims: Int, base: Float, style: Int32)
    /// A per-head linear bias on attention scores (BLOOM).
    case alibi
    /// A learned vector added to the token embedding (GPT-2).
    case learned
}

extension Architecture {
    /// Blocks of LlamaBlock.swift: RMSNorm, rotary positions, a gated feed-forward; the Qwen
    /// variants add their optional tensors (biases, q/k norms) to the same steps.
    var isLlamaFamily: Bool { self == .llama || self == .qwen2 || self == .qwen3 }
    /// RMSNorm (weight, no bias) everywhere, and a gated feed-forward.
    var usesRMSNorm: Bool { isLlamaFamily || self == .gemma3 }
}

/// The feed-forward activation.
public enum Activation: String, Sendable {
    /// silu(gate) ⊙ up (llama's SwiGLU).
    case silu
    /// GELU, tanh approximation (GPT-2's gelu_new, BLOOM).
    case geluTanh = "gelu_tanh"
    /// GELU with erf.
    case gelu
    /// GELU, tanh form, read from ggml's table of f16 inputs: how llama.cpp's CPU backend
    /// computes Gemma's gate, so GGUF files give llama.cpp's numbers (safetensors ones use the
    /// exact tanh form, as transformers does).
    case geluTanhF16Table = "gelu_tanh_f16_table"
}

/// The shape of a model, checked once at load.
public struct ModelHyperparameters: Equatable, Sendable {
    public let architecture: Architecture
    public let blockCount: Int
    public let embedding: Int
    public let feedForward: Int
    public let heads: Int
    public let kvHeads: Int
    public let headDim: Int
    /// The attention's score scale: the model's own when it sets one, else 1 / sqrt(headDim).
    public let attentionScale: Float
    public let positions: PositionEncoding
    public let activation: Activation
    /// Gemma 3: sqrt(embedding), applied to the token embeddings.
    public let embeddingScale: Float?
    /// Gemma 3's sliding-window attention (nil: every block attends to all positions).
    public let slidingWindow: Int?
    public let slidingWindowPattern: Int
    public let ropeFreqBaseSliding: Float
    public let normEpsilon: Float
    public let vocabularySize: Int
    public let contextLength: Int

    public var kvDim: Int { kvHeads * headDim }
    /// Width of the query projection (heads x head size); the embedding for most models.
    public var queryDim: Int { heads * headDim }

    /// Whether block `block` (of the whole model) attends within the sliding window.
    public func isSlidingBlock(_ block: Int) -> Bool {
        slidingWindow != nil && (slidingWindowPattern == 0 || block % slidingWindowPattern < slidingWindowPattern - 1)
    }

    public init(_ d: ModelDescription) throws {
        guard let architecture = Architecture(rawValue: d.architecture) else {
            throw ModelError.unsupportedArchitecture(d.architecture)
        }
        self.architecture = architecture
        guard d.blockCount > 0, d.embeddingLength > 0, d.headCount > 0, d.headCountKV > 0,
              d.feedForwardLength > 0, d.vocabSize > 0, d.contextLength > 0 else {
            throw ModelError.invalidHyperparameters("sizes must be positive")
        }
        guard d.headDim.map({ $0 > 0 }) ?? (d.embeddingLength % d.headCount == 0) else {
            throw ModelError.invalidHyperparameters("embedding \(d.embeddingLength) is not divisible by \(d.headCount) heads")
        }
        guard d.headCount % d.headCountKV == 0 else {
            throw ModelError.invalidHyperparameters("\(d.headCount) heads cannot share \(d.headCountKV) KV heads")
        }
        blockCount = d.blockCount
        embedding = d.embeddingLength
        feedForward = d.feedForwardLength
        heads = d.headCount
        kvHeads = d.headCountKV
        headDim = d.headDim ?? d.embeddingLength / d.headCount
        // llama.cpp: Gemma 3 27B (62 blocks) scales by embedding / heads, the others by the head size.
        let scaleWidth = architecture == .gemma3 && d.blockCount == 62 ? d.embeddingLength / d.headCount : headDim
        attentionScale = d.attentionScale ?? 1 / Float(scaleWidth).squareRoot()
        guard attentionScale.isFinite, attentionScale > 0 else {
            throw ModelError.invalidHyperparameters("attention scale \(attentionScale) is not positive")
        }
        embeddingScale = architecture == .gemma3 ? Float(d.embeddingLength).squareRoot() : nil
        slidingWindow = architecture == .gemma3 ? d.slidingWindow.flatMap { $0 > 0 ? $0 : nil } : nil
        slidingWindowPattern = d.slidingWindowPattern ?? 6
        ropeFreqBaseSliding = d.ropeFreqBaseSliding ?? 10000
        normEpsilon = d.normEpsilon
        vocabularySize = d.vocabSize
        contextLength = d.contextLength

        let activationName = d.activation
            ?? (architecture.isLlamaFamily ? "silu" : architecture == .gemma3 ? "gelu_tanh_f16_table" : "gelu_tanh")
        guard let activation = Activation(rawValue: activationName) else {
            throw ModelError.invalidHyperparameters("unknown activation '\(activationName)'")
        }
        self.activation = activation
        switch architecture {
        case .llama, .qwen2, .qwen3, .gemma3:
            let ropeDims = d.ropeDimensionCount > 0 ? d.ropeDimensionCount : headDim
            guard ropeDims <= headDim, ropeDims % 2 == 0 else {
                throw ModelError.invalidHyperparameters("rope dimension \(ropeDims) does not fit head size \(headDim)")
            }
            let style: Int32
            switch d.ropeStyle {
            case "normal": style = Int32(CK_ROPE_NORMAL)
            case "neox": style = Int32(CK_ROPE_NEOX)
            default: throw ModelError.invalidHyperparameters("llama needs rotary embeddings, got rope style '\(d.ropeStyle)'")
            }
            positions = .rotary(dims: ropeDims, base: d.ropeFreqBase, style: style)
            let gates: [Activation] = architecture == .gemma3 ? [.geluTanh, .geluTanhF16Table] : [.silu]
            guard gates.contains(activation) else {
                throw ModelError.invalidHyperparameters("\(architecture.rawValue)'s feed-forward gate is not \(activation.rawValue)")
            }
        case .bloom, .gpt2:
            positions = architecture == .bloom ? .alibi : .learned
            guard d.headCountKV == d.headCount else {
                throw ModelError.invalidHyperparameters("\(architecture.rawValue) has one KV head per head, got \(d.headCountKV) for \(d.headCount)")
            }
            guard activation != .silu, activation != .geluTanhF16Table else {
                throw ModelError.invalidHyperparameters("\(architecture.rawValue)'s feed-forward is not gated")
            }
        }
    }
}
