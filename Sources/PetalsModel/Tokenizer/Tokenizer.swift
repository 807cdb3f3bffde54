import Foundation
import PluginAPI

/// The tokenizer of a model, reproducing llama.cpp's token ids for both vocabulary families
/// GGUF files carry:
/// - byte-level BPE (`tokenizer.ggml.model` "gpt2": GPT-2, Llama 3, Qwen, SmolLM): the text is
///   split into words by the model's pre-tokenizer (`PreTokenizer`) and each word's UTF-8 bytes
///   are merged into tokens by the merge list (`BPEMerger`); merged words are cached;
/// - SentencePiece (`tokenizer.ggml.model` "llama": Llama 2, Mistral, Gemma): spaces become "▁",
///   a space is prepended when the file asks for it, and characters are merged by token score
///   with byte fallback (`SentencePieceEncoder`);
/// - SentencePiece vocabularies in a Hugging Face tokenizer.json ("sentencepiece-bpe": BPE with
///   `byte_fallback`, as Gemma's, Llama 2's and Mistral v0.x's): spaces become "▁", "▁" is
///   prefixed as the file's normalizer or Metaspace says, and characters are merged by merge
///   rank, those without a token falling back to byte tokens (`BPEMerger.encode(characters:)`),
///   as the tokenizers library does.
///
/// Either way special-token texts are cut out of the input first (`SpecialTokenSplitter`), except
/// inside a prompt's literal ranges (chat message contents).
///
/// `encode` never adds a BOS token: callers that start a sequence add `bosTokenID` themselves
/// when `addsBOS` is true (llama.cpp's `add_special`).
public final class Tokenizer: @unchecked Sendable {
    /// How plain text becomes tokens.
    private enum Encoding {
        case byteLevelBPE(PreTokenizer, BPEMerger)
        case sentencePiece(SentencePieceEncoder, addSpacePrefix: Bool)
        case sentencePieceBPE(BPEMerger, byteTokens: [Int?], prefix: SpacePrefix)
    }

    /// Where a SentencePiece BPE vocabulary prefixes "▁" (TokenizerDescription.spacePrefix).
    private enum SpacePrefix: String {
        case always
        case metaspaceAlways = "metaspace-always"
        case metaspaceFirst = "metaspace-first"
        case never

        /// Whether "▁" goes before a text that starts at byte `offset` of the input.
        func prefixes(_ text: ArraySlice<UInt8>, offset: Int) -> Bool {
            switch self {
            case .always: return true
            case .metaspaceAlways: return text.first != 0x20
            case .metaspaceFirst: return offset == 0 && text.first != 0x20
            case .never: return false
            }
        }
    }

    private let tokens: [String]
    private let attributes: [TokenAttributes]
    private let tokenOf: [String: Int]
    /// Bytes each token renders as (for control and unknown tokens: their text, shown only
    /// when special rendering is asked for).
    private let renderedBytes: [[UInt8]]
    private let encoding: Encoding
    private let specials: SpecialTokenSplitter
    private let endOfGeneration: Set<Int>
    private let wordCache = WordCache()
    /// The description's choice, else the pre-tokenizer's (llama.cpp's) default.
    private let cleanSpaces: Bool
    /// Text is put in Unicode NFC before encoding (tokenizer.json's NFC normalizer).
    private let normalizesNFC: Bool

    public let bosTokenID: Int?
    public let eosTokenID: Int?
    public let addsBOS: Bool
    /// The model's chat template (Jinja), when it ships one.
    public let chatTemplate: String?
    /// `tokenizer.ggml.pre` of the model.
    public let preTokenizerName: String
    /// The unknown token (SentencePiece vocabularies), used when a byte has no token.
    public let unknownTokenID: Int?

    public init(_ description: TokenizerDescription) throws {
        guard ["gpt2", "llama", "sentencepiece-bpe"].contains(description.model) else {
            throw TokenizerError.unsupportedModel(description.model)
        }
        guard !description.tokens.isEmpty else { throw TokenizerError.emptyVocabulary }
        let isSentencePiece = description.model != "gpt2"
        let preTokenizer = isSentencePiece ? nil : try PreTokenizer(name: description.pre)
        preTokenizerName = description.pre
        switch description.normalization {
        case nil: normalizesNFC = false
        case "nfc": normalizesNFC = true
        case let other?: throw TokenizerError.unsupportedPreTokenizer("normalization \(other)", supported: ["nfc"])
        }
        // llama.cpp: SentencePiece vocabularies never clean spaces; BPE ones per pre-tokenizer.
        cleanSpaces = description.cleanSpaces ?? preTokenizer?.cleansSpaces ?? false

        var tokens = description.tokens
        // Tokens are told apart by their bytes, as llama.cpp does: two texts Swift's String
        // equality holds equal (canonically equivalent Unicode, e.g. composed and decomposed
        // Bengali vowel signs in Gemma's vocabulary) are different tokens. `tokenOf` (lookup by
        // text) keeps the first of such a pair.
        var tokenOf: [String: Int] = [:]
        var idOfBytes: [[UInt8]: Int] = [:]
        tokenOf.reserveCapacity(tokens.count)
        idOfBytes.reserveCapacity(tokens.count)
        for id in tokens.indices {
            if tokens[id].isEmpty { tokens[id] = "[EMPTY_\(id)]" }  // llama.cpp's name for empty tokens
            let bytes = Array(tokens[id].utf8)
            if let first = idOfBytes[bytes] {
                throw TokenizerError.duplicateToken(tokens[id], firstID: first, secondID: id)
            }
            idOfBytes[bytes] = id
            if tokenOf[tokens[id]] == nil { tokenOf[tokens[id]] = id }
        }

        var attributes: [TokenAttributes]
        if description.tokenTypes.isEmpty {
            attributes = Array(repeating: .normal, count: tokens.count)
        } else {
            guard description.tokenTypes.count >= tokens.count else {
                throw TokenizerError.tokenTypeCountMismatch(tokens: tokens.count, types: description.tokenTypes.count)
            }
            attributes = description.tokenTypes.prefix(tokens.count).map(TokenAttributes.init(tokenType:))
        }

        let range = 0..<tokens.count
        bosTokenID = description.bosTokenID.flatMap { range.contains($0) ? $0 : nil }
        eosTokenID = description.eosTokenID.flatMap { range.contains($0) ? $0 : nil }
        addsBOS = description.addBOSToken && bosTokenID != nil
        chatTemplate = description.chatTemplate

        endOfGeneration = EndOfGeneration.resolve(tokens: tokens, tokenOf: tokenOf, eos: eosTokenID,
                                                  attributes: &attributes)
        if let preTokenizer {
            encoding = .byteLevelBPE(preTokenizer, try BPEMerger(tokens: tokens, tokenOf: tokenOf, merges: description.merges))
        } else if description.model == "sentencepiece-bpe" {
            guard let prefix = SpacePrefix(rawValue: description.spacePrefix ?? "never") else {
                throw TokenizerError.unsupportedPreTokenizer("space prefix \(description.spacePrefix ?? "")",
                                                             supported: ["always", "metaspace-always", "metaspace-first", "never"])
            }
            // Byte fallback as the tokenizers library does it: "<0xAB>" tokens only.
            let byteTokens = (0...255).map { idOfBytes[Array(String(format: "<0x%02X>", $0).utf8)] }
            encoding = .sentencePieceBPE(try BPEMerger(tokens: tokens, tokenOf: tokenOf, merges: description.merges),
                                         byteTokens: byteTokens, prefix: prefix)
        } else {
            let scores = description.scores ?? []
            encoding = .sentencePiece(try SentencePieceEncoder(tokens: tokens, idOfBytes: idOfBytes, scores: scores),
                                      addSpacePrefix: description.addSpacePrefix ?? true)
        }
        unknownTokenID = description.unknownTokenID.flatMap { range.contains($0) ? $0 : nil }
        specials = SpecialTokenSplitter(tokens: tokens, attributes: attributes)
        renderedBytes = zip(tokens, attributes).map { text, attribute in
            Self.render(text: text, attribute: attribute, sentencePiece: isSentencePiece)
        }
        self.tokens = tokens
        self.attributes = attributes
        self.tokenOf = tokenOf
    }

    private static func render(text: String, attribute: TokenAttributes, sentencePiece: Bool) -> [UInt8] {
        if !attribute.isDisjoint(with: [.unknown, .control, .userDefined]) { return Array(text.utf8) }
        if attribute.contains(.normal) {
            return sentencePiece ? Array(text.replacingOccurrences(of: "\u{2581}", with: " ").utf8)
                                 : ByteLevel.decode(tokenText: text)
        }
        if attribute.contains(.byte) {
            // "<0xAB>"
            let utf8 = Array(text.utf8)
            guard utf8.count >= 5, let value = UInt8(String(decoding: utf8[3..<5], as: UTF8.self), radix: 16) else {
                return []
            }
            return [value]
        }
        return []  // unused and undefined tokens render as nothing
    }

    // MARK: Vocabulary

    public var vocabularySize: Int { tokens.count }

    /// The id of the token with exactly this text (any token type).
    public func id(of tokenText: String) -> Int? { tokenOf[tokenText] }

    /// The token's text as stored in the vocabulary (byte-level stand-in characters), or nil.
    public func tokenText(_ id: Int) -> String? { tokens.indices.contains(id) ? tokens[id] : nil }

    /// True for tokens that end generation: the EOS token and the tokens llama.cpp recognises as
    /// end-of-turn / end-of-text by their text (e.g. "<|im_end|>", "<|endoftext|>").
    public func isEndOfGeneration(_ id: Int) -> Bool { endOfGeneration.contains(id) }

    /// All end-of-generation ids, sorted.
    public var endOfGenerationIDs: [Int] { endOfGeneration.sorted() }

    /// True for control tokens (e.g. "<|im_start|>").
    public func isControl(_ id: Int) -> Bool {
        attributes.indices.contains(id) && attributes[id].contains(.control)
    }

    // MARK: Encoding

    /// Token ids of `text`, exactly as llama.cpp's `llama_tokenize` with add_special off.
    /// - Parameter parseSpecial: control-token texts in `text` (like "<|im_start|>") become
    ///   their ids; when false they are tokenized as plain text. User-defined tokens are always
    ///   recognised (llama.cpp's `parse_special`).
    public func encode(_ text: String, parseSpecial: Bool = true) -> [Int] {
        encode(PromptText(text), parseSpecial: parseSpecial)
    }

    /// Token ids of `prompt`: as `encode(_:parseSpecial:)`, except that special-token texts
    /// inside `prompt.literalRanges` (chat message contents) are always tokenized as text.
    public func encode(_ prompt: PromptText, parseSpecial: Bool = true) -> [Int] {
        let bytes = Array(prompt.text.utf8)
        var output: [Int] = []
        output.reserveCapacity(bytes.count / 3 + 4)
        var previousWasSpecial = true  // SentencePiece: a space is prefixed to the first text
        for fragment in specials.partition(bytes, parseSpecial: parseSpecial, literal: prompt.literalRanges) {
            switch fragment {
            case .token(let id):
                output.append(id)
                previousWasSpecial = true
            case .text(let range):
                // tokenizers normalizes each text between special tokens on its own.
                let normalized = normalizesNFC
                    ? Array(String(decoding: bytes[range], as: UTF8.self).precomposedStringWithCanonicalMapping.utf8) : nil
                let text = normalized.map { $0[...] } ?? bytes[range]
                switch encoding {
                case .byteLevelBPE(let preTokenizer, let merger):
                    encodeWords(text, preTokenizer: preTokenizer, merger: merger, into: &output)
                case .sentencePiece(let encoder, let addSpacePrefix):
                    // llama.cpp: " " before text that starts the input or follows a special token,
                    // then every space spelled "▁".
                    let escaped = SentencePieceEncoder.escapingSpaces(text, prefixed: addSpacePrefix && previousWasSpecial)
                    encoder.encode(escaped, into: &output, unknown: unknownTokenID)
                case .sentencePieceBPE(let merger, let byteTokens, let prefix):
                    // tokenizers splits special tokens out first and normalizes (and pre-tokenizes)
                    // each text between them on its own.
                    let escaped = SentencePieceEncoder.escapingSpaces(text, prefixed: prefix.prefixes(text, offset: range.lowerBound))
                    merger.encode(characters: escaped, byteTokens: byteTokens, unknown: unknownTokenID, into: &output)
                }
                previousWasSpecial = false
            }
        }
        return output
    }

    private func encodeWords(_ bytes: ArraySlice<UInt8>, preTokenizer: PreTokenizer, merger: BPEMerger,
                             into output: inout [Int]) {
        // Unicode scalars of the fragment, and where each starts in `bytes`.
        var scalars: [UInt32] = []
        var offsets: [Int] = []
        scalars.reserveCapacity(bytes.count)
        offsets.reserveCapacity(bytes.count + 1)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let (scalar, length) = UTF8Scalars.decode(bytes, at: i)
            scalars.append(scalar)
            offsets.append(i)
            i += length
        }
        offsets.append(bytes.endIndex)

        for word in preTokenizer.split(scalars) {
            let wordBytes = bytes[offsets[word.lowerBound]..<offsets[word.upperBound]]
            if let cached = wordCache[wordBytes] {
                output.append(contentsOf: cached)
                continue
            }
            var ids: [Int] = []
            if preTokenizer.ignoresMerges, let whole = merger.wholeWordToken(wordBytes) {
                ids = [whole]
            } else {
                merger.encode(word: wordBytes, into: &ids)
            }
            wordCache[wordBytes] = ids
            output.append(contentsOf: ids)
        }
    }

    // MARK: Decoding

    /// The bytes one token stands for. Control and unknown tokens give their text only when
    /// `renderSpecial` is true (otherwise nothing); user-defined tokens always give their text.
    public func tokenBytes(_ id: Int, renderSpecial: Bool = false) -> [UInt8] {
        guard renderedBytes.indices.contains(id) else { return [] }
        if !renderSpecial && !attributes[id].isDisjoint(with: [.unknown, .control]) { return [] }
        return renderedBytes[id]
    }

    /// The text of `ids`, as llama.cpp's `llama_detokenize` (remove_special off) produces it.
    /// Invalid UTF-8 (a multi-byte character cut off at the end) becomes U+FFFD.
    public func decode(_ ids: [Int], renderSpecial: Bool = false) -> String {
        String(decoding: decodeBytes(ids, renderSpecial: renderSpecial), as: UTF8.self)
    }

    /// The raw bytes of `ids` (see `decode`).
    public func decodeBytes(_ ids: [Int], renderSpecial: Bool = false) -> [UInt8] {
        var bytes: [UInt8] = []
        for id in ids { bytes.append(contentsOf: tokenBytes(id, renderSpecial: renderSpecial)) }
        // llama.cpp drops the space a SentencePiece vocabulary prefixed to the text (tokenizers'
        // Strip and Metaspace decoders alike).
        if prefixesSpace, let first = ids.first, tokenBytes(first, renderSpecial: renderSpecial).first == 0x20,
           bytes.first == 0x20 {
            bytes.removeFirst()
        }
        return cleanSpaces ? SpaceCleaning.clean(bytes) : bytes
    }

    /// Whether encoding puts "▁" before text (then decoding drops the space it gives).
    private var prefixesSpace: Bool {
        switch encoding {
        case .byteLevelBPE: return false
        case .sentencePiece(_, let addSpacePrefix): return addSpacePrefix
        case .sentencePieceBPE(_, _, let prefix): return prefix != .never
        }
    }

    /// Whether `decode` removes spaces before punctuation (llama.cpp's clean_spaces); when it
    /// does, streamed text (`IncrementalDecoder`) can differ from `decode` around punctuation.
    public var cleansSpaces: Bool { cleanSpaces }
}

/// Merged words, shared by all callers of one tokenizer.
private final class WordCache: @unchecked Sendable {
    private var entries: [ArraySlice<UInt8>: [Int]] = [:]
    private let lock = NSLock()
    private let limit = 65_536

    subscript(word: ArraySlice<UInt8>) -> [Int]? {
        get {
            lock.lock()
            defer { lock.unlock() }
            return entries[word]
        }
        set {
            lock.lock()
            defer { lock.unlock() }
            if entries.count >= limit { entries.removeAll(keepingCapacity: true) }
            entries[ArraySlice(Array(word))] = newValue
        }
    }
}

/// Decoding Unicode scalars from bytes that are known to be valid UTF-8 (they come from a String).
enum UTF8Scalars {
    static func decode(_ bytes: ArraySlice<UInt8>, at i: Int) -> (scalar: UInt32, length: Int) {
        let b0 = UInt32(bytes[i])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F), 2) }
        if b0 < 0xF0 {
            return ((b0 & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F), 3)
        }
        return ((b0 & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12
                | UInt32(bytes[i + 2] & 0x3F) << 6 | UInt32(bytes[i + 3] & 0x3F), 4)
    }
}

extension UTF8Scalars {
    /// The sequence length a UTF-8 lead byte announces (1 for continuation bytes, as llama.cpp's
    /// unicode_len_utf8).
    static func length(lead: UInt8) -> Int {
        let lookup = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4]
        return lookup[Int(lead >> 4)]
    }
}

/// The tokenizer's earlier name, from when byte-level BPE was the only family.
public typealias BPETokenizer = Tokenizer
