import CKernels
import PluginAPI

/// The transformer families the shard forward pass runs. The architecture fixes the block's
/// structure; the description gives its sizes.
public enum Architecture: String, Sendable, CaseIterable {
    /// RMSNorm, rotary positions, grouped-query attention, SwiGLU feed-forward.
    case llama
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

/// The feed-forward activation.
public enum Activation: String, Sendable {
    /// silu(gate) ⊙ up (llama's SwiGLU).
    case silu
    /// GELU, tanh approximation (GPT-2's gelu_new, BLOOM).
    case geluTanh = "gelu_tanh"
    /// GELU with erf.
    case gelu
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
    public let positions: PositionEncoding
    public let activation: Activation
    public let normEpsilon: Float
    public let vocabularySize: Int
    public let contextLength: Int

    public var kvDim: Int { kvHeads * headDim }

    public init(_ d: ModelDescription) throws {
        guard let architecture = Architecture(rawValue: d.architecture) else {
            throw ModelError.unsupportedArchitecture(d.architecture)
        }
        self.architecture = architecture
        guard d.blockCount > 0, d.embeddingLength > 0, d.headCount > 0, d.headCountKV > 0,
              d.feedForwardLength > 0, d.vocabSize > 0, d.contextLength > 0 else {
            throw ModelError.invalidHyperparameters("sizes must be positive")
        }
        guard d.embeddingLength % d.headCount == 0 else {
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
        headDim = d.embeddingLength / d.headCount
        normEpsilon = d.normEpsilon
        vocabularySize = d.vocabSize
        contextLength = d.contextLength

        let activationName = d.activation ?? (architecture == .llama ? "silu" : "gelu_tanh")
        guard let activation = Activation(rawValue: activationName) else {
            throw ModelError.invalidHyperparameters("unknown activation '\(activationName)'")
        }
        self.activation = activation
        switch architecture {
        case .llama:
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
            guard activation == .silu else {
                throw ModelError.invalidHyperparameters("llama's feed-forward is gated by silu, not \(activation.rawValue)")
            }
        case .bloom, .gpt2:
            positions = architecture == .bloom ? .alibi : .learned
            guard d.headCountKV == d.headCount else {
                throw ModelError.invalidHyperparameters("\(architecture.rawValue) has one KV head per head, got \(d.headCountKV) for \(d.headCount)")
            }
            guard activation != .silu else {
                throw ModelError.invalidHyperparameters("\(architecture.rawValue)'s feed-forward is not gated")
            }
        }
    }
}
