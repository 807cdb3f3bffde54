import Foundation

/// Errors of model loading and inference, with messages a user can act on.
public enum ModelError: Error, CustomStringConvertible, LocalizedError, Equatable {
    case unsupportedArchitecture(String)
    case invalidHyperparameters(String)
    case missingTensor(String)
    case tensorShape(name: String, expected: [Int], found: [Int])
    case unsupportedTensorType(name: String, type: String)
    case blocksNotCovered(missing: [Range<Int>], blockCount: Int)
    case invalidBlockRange(String)
    case contextFull(needed: Int, capacity: Int)
    case cacheFull(requested: Int, free: Int, capacity: Int)
    case tokenOutOfRange(Int, vocabularySize: Int)
    case emptyPrompt
    case chatTemplateUnsupported(String)

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let arch):
            return "architecture '\(arch)' is not supported (supported: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .invalidHyperparameters(let why):
            return "the model's hyperparameters are inconsistent: \(why)"
        case .missingTensor(let name):
            return "the model file has no tensor \(name)"
        case .tensorShape(let name, let expected, let found):
            return "tensor \(name) has shape \(found), expected \(expected)"
        case .unsupportedTensorType(let name, let type):
            return "tensor \(name) has type \(type), which the kernels cannot multiply"
        case .blocksNotCovered(let missing, let count):
            let list = missing.map { "[\($0.lowerBound), \($0.upperBound))" }.joined(separator: ", ")
            return "blocks \(list) of the model's \(count) are not served by any shard"
        case .invalidBlockRange(let why):
            return "invalid block range: \(why)"
        case .contextFull(let needed, let capacity):
            return "the prompt and the tokens to generate need \(needed) positions but the model's context holds \(capacity); "
                + "shorten the prompt or ask for fewer tokens (--max-new-tokens, max_tokens)"
        case .cacheFull(let requested, let free, let capacity):
            return "the KV cache is full: a sequence of \(requested) positions does not fit in the \(free) free of \(capacity) (--cache-tokens); retry when other sessions end, or raise --cache-tokens"
        case .tokenOutOfRange(let id, let size):
            return "token id \(id) is outside the vocabulary of \(size) tokens"
        case .emptyPrompt:
            return "the prompt is empty after tokenization"
        case .chatTemplateUnsupported(let why):
            return "cannot apply the model's chat template: \(why)"
        }
    }

    public var errorDescription: String? { description }
}
