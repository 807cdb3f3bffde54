/// Why a tokenizer could not be built from a model's tokenizer description.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    /// `tokenizer.ggml.model` names a tokenizer family other than byte-level BPE ("gpt2") and
    /// SentencePiece ("llama").
    case unsupportedModel(String)
    /// `tokenizer.ggml.pre` names a pre-tokenizer this implementation does not know.
    case unsupportedPreTokenizer(String, supported: [String])
    /// A merge rule is not of the form "left right".
    case malformedMerge(index: Int, text: String)
    /// The token-type list is shorter than the token list.
    case tokenTypeCountMismatch(tokens: Int, types: Int)
    /// The same token text appears twice in the vocabulary.
    case duplicateToken(String, firstID: Int, secondID: Int)
    /// The vocabulary has no tokens.
    case emptyVocabulary
    /// A SentencePiece vocabulary has fewer scores than tokens.
    case scoreCountMismatch(tokens: Int, scores: Int)

    public var description: String {
        switch self {
        case .unsupportedModel(let model):
            return "unsupported tokenizer model '\(model)': byte-level BPE ('gpt2'), SentencePiece ('llama') and tokenizer.json's SentencePiece BPE ('sentencepiece-bpe') are implemented"
        case .unsupportedPreTokenizer(let pre, let supported):
            return "unsupported pre-tokenizer '\(pre)'; supported: \(supported.joined(separator: ", "))"
        case .malformedMerge(let index, let text):
            return "malformed BPE merge #\(index) '\(text)': expected two pieces separated by a space"
        case .tokenTypeCountMismatch(let tokens, let types):
            return "tokenizer has \(tokens) tokens but only \(types) token types"
        case .duplicateToken(let text, let first, let second):
            return "duplicate token '\(text)' in vocabulary (ids \(first) and \(second))"
        case .emptyVocabulary:
            return "tokenizer vocabulary is empty"
        case .scoreCountMismatch(let tokens, let scores):
            return "SentencePiece tokenizer has \(tokens) tokens but \(scores) scores (tokenizer.ggml.scores)"
        }
    }
}
