import PluginAPI

/// The shape of a llama-family model, checked once at load.
public struct LlamaHyperparameters: Equatable, Sendable {
    public let blockCount: Int
    public let embedding: Int
    public let feedForward: Int
    public let heads: Int
    public let kvHeads: Int
    public let headDim: Int
    public let ropeDims: Int
    public let ropeBase: Float
    public let ropeStyle: Int32
    public let normEpsilon: Float
    public let vocabularySize: Int
    public let contextLength: Int

    public var kvDim: Int { kvHeads * headDim }

    public init(_ d: ModelDescription) throws {
        guard d.architecture == "llama" else { throw ModelError.unsupportedArchitecture(d.architecture) }
        guard d.blockCount > 0, d.embeddingLength > 0, d.headCount > 0, d.headCountKV > 0,
              d.feedForwardLength > 0, d.vocabSize > 0 else {
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
        ropeDims = d.ropeDimensionCount > 0 ? d.ropeDimensionCount : headDim
        guard ropeDims <= headDim, ropeDims % 2 == 0 else {
            throw ModelError.invalidHyperparameters("rope dimension \(ropeDims) does not fit head size \(headDim)")
        }
        ropeBase = d.ropeFreqBase
        switch d.ropeStyle {
        case "normal": ropeStyle = 0
        case "neox": ropeStyle = 1
        default: throw ModelError.invalidHyperparameters("llama needs rotary embeddings, got rope style '\(d.ropeStyle)'")
        }
        normEpsilon = d.normEpsilon
        vocabularySize = d.vocabSize
        contextLength = d.contextLength
    }
}
