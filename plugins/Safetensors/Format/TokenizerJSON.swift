import Foundation
import PluginAPI

/// Reads a Hugging Face tokenizer.json (plus tokenizer_config.json and config.json for the
/// special token ids and chat template) into the host's TokenizerDescription.
///
/// Two kinds are accepted:
/// - byte-level BPE, with the pre-tokenizers the host implements: GPT-2's (ByteLevel with its
///   regex), SmolLM's (individual digits, then GPT-2's), BLOOM's (its Split regex, then ByteLevel
///   without regex), Llama 3's and Qwen2's (their Split regex, then ByteLevel), with no
///   normalizer or an NFC one (Qwen2.5's);
/// - SentencePiece vocabularies converted by transformers (BPE with `byte_fallback`): Gemma's
///   (a Replace " " → "▁" normalizer, its no-op Split on " "), legacy Llama 2 / Mistral ones
///   (Prepend "▁" and Replace normalizers) and newer ones (a Metaspace pre-tokenizer, split off).
/// Anything else is refused with a message naming what was found, never approximated.
struct TokenizerJSON {
    static let bloomPattern = " ?[^(\\s|[.,!?…。，、।۔،])]+"
    static let llama3Pattern = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
    /// Qwen2's (and Qwen2.5's, Qwen3's): Llama 3's with one digit per word.
    static let qwen2Pattern = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

    /// A pre-tokenizer step as tokenizer.json spells it.
    enum Step: Equatable {
        case byteLevel(useRegex: Bool)
        case digits(individual: Bool)
        case split(pattern: String)
    }

    let path: String

    func describe(modelConfig: ConfigJSON, tokenizerConfig: ConfigJSON, chatTemplateFile: String?) throws -> TokenizerDescription {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SafetensorsError.io(path: path, reason: error.localizedDescription)
        }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw fail("not a JSON object")
        }
        guard let model = root["model"] as? [String: Any], (model["type"] as? String ?? "BPE") == "BPE" else {
            throw fail("model.type must be BPE (byte-level BPE and SentencePiece BPE are the tokenizers implemented)")
        }
        for option in ["continuing_subword_prefix", "end_of_word_suffix"] where model[option] is String {
            throw fail("model.\(option) is not supported")
        }
        if let dropout = model["dropout"] as? Double, dropout > 0 { throw fail("model.dropout \(dropout) is not supported") }
        let sentencePiece = model["byte_fallback"] as? Bool == true
        var normalization: String?
        let kind: (model: String, pre: String, spacePrefix: String?)
        if sentencePiece {
            if model["ignore_merges"] as? Bool == true { throw fail("model.ignore_merges with byte_fallback is not supported") }
            kind = ("sentencepiece-bpe", "default", try spacePrefix(normalizer: root["normalizer"], preTokenizer: root["pre_tokenizer"]))
        } else {
            // Qwen2.5's tokenizer.json puts text in NFC first; other normalizers are refused.
            if let normalizer = root["normalizer"] as? [String: Any] {
                guard normalizer["type"] as? String == "NFC" else {
                    throw fail("normalizer \(normalizer["type"] ?? "?") is not supported (byte-level BPE: none or NFC)")
                }
                normalization = "nfc"
            }
            kind = ("gpt2", try preTokenizerName(root["pre_tokenizer"], ignoreMerges: model["ignore_merges"] as? Bool ?? false), nil)
        }

        let (tokens, tokenTypes) = try vocabulary(model: model, added: root["added_tokens"] as? [[String: Any]] ?? [],
                                                  byteTokens: sentencePiece)
        let merges = try mergeRules(model["merges"])
        let idOf = Dictionary(tokens.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let unknown = (model["unk_token"] as? String).flatMap { idOf[$0] }

        func special(_ key: String) -> Int? {
            if let id = modelConfig.firstInt("\(key)_token_id"), tokens.indices.contains(id) { return id }
            let text = tokenizerConfig.string("\(key)_token")
                ?? (tokenizerConfig.object("\(key)_token")?["content"] as? String)
            return text.flatMap { idOf[$0] }
        }
        var bos = special("bos")
        var addBOS = try tokenizerConfig.bool("add_bos_token", default: false)
        if let first = templateFirstSpecial(root["post_processor"]) {
            guard let id = idOf[first] else { throw fail("post_processor adds \(first), which is not a token") }
            (bos, addBOS) = (id, true)
        }
        var types = tokenTypes
        if let unknown { types[unknown] = 2 }
        return TokenizerDescription(
            model: kind.model, pre: kind.pre, tokens: tokens, tokenTypes: types, merges: merges,
            bosTokenID: bos, eosTokenID: special("eos"), addBOSToken: addBOS,
            chatTemplate: try chatTemplate(tokenizerConfig, file: chatTemplateFile),
            // The tokenizers library decodes without clean-up; transformers applies it when the
            // tokenizer's config asks for it.
            cleanSpaces: try tokenizerConfig.bool("clean_up_tokenization_spaces", default: false),
            unknownTokenID: unknown, spacePrefix: kind.spacePrefix, normalization: normalization)
    }

    /// Where a SentencePiece BPE tokenizer prefixes "▁" (TokenizerDescription.spacePrefix; nil: never),
    /// from the normalizer and pre-tokenizer forms transformers' converters write; spaces must
    /// become "▁" in one of them.
    private func spacePrefix(normalizer: Any?, preTokenizer: Any?) throws -> String? {
        func describe(_ value: Any?) -> String {
            guard let object = value as? [String: Any] else { return "none" }
            return (try? String(decoding: JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)) ?? "?"
        }
        func isSpaceToMeta(_ value: Any?) -> Bool {
            guard let o = value as? [String: Any], o["type"] as? String == "Replace",
                  (o["pattern"] as? [String: Any])?["String"] as? String == " " else { return false }
            return o["content"] as? String == "\u{2581}"
        }
        func isPrependMeta(_ value: Any?) -> Bool {
            guard let o = value as? [String: Any], o["type"] as? String == "Prepend" else { return false }
            return o["prepend"] as? String == "\u{2581}"
        }
        let steps: [Any]
        if let n = normalizer as? [String: Any], n["type"] as? String == "Sequence" {
            steps = n["normalizers"] as? [Any] ?? []
        } else {
            steps = normalizer.map { $0 is NSNull ? [] : [$0] } ?? []
        }
        let pre = preTokenizer as? [String: Any]
        switch steps.count {
        case 1 where isSpaceToMeta(steps[0]), 2 where isPrependMeta(steps[0]) && isSpaceToMeta(steps[1]):
            // Gemma's Split(" ", merged_with_previous) finds no space left: a no-op.
            if let pre, !(pre["type"] as? String == "Split" && (pre["pattern"] as? [String: Any])?["String"] as? String == " ") {
                throw fail("pre-tokenizer \(describe(pre)) after a SentencePiece normalizer is not supported")
            }
            return steps.count == 2 ? "always" : nil
        case 0:
            guard let pre, pre["type"] as? String == "Metaspace", (pre["replacement"] as? String ?? "\u{2581}") == "\u{2581}" else {
                throw fail("a byte_fallback BPE needs spaces spelled \u{2581} by its normalizer or a Metaspace pre-tokenizer; found \(describe(pre))")
            }
            if pre["split"] as? Bool ?? true { throw fail("Metaspace with split true is not supported (merges run across words here)") }
            switch pre["prepend_scheme"] as? String ?? ((pre["add_prefix_space"] as? Bool ?? true) ? "always" : "never") {
            case "always": return "metaspace-always"
            case "first": return "metaspace-first"
            case "never": return nil
            case let other: throw fail("Metaspace prepend_scheme \(other) is not supported")
            }
        default:
            throw fail("normalizer \(describe(normalizer)) is not supported (SentencePiece BPE: Replace \" \" → \u{2581}, optionally after Prepend \u{2581})")
        }
    }

    private func fail(_ reason: String) -> SafetensorsError { .badTokenizer(path: path, reason: reason) }

    /// Tokens by id (model.vocab and added_tokens together) and their llama.cpp token types:
    /// 1 normal, 3 control (special added tokens), 4 user-defined (other added tokens).
    /// With `byteTokens` (SentencePiece BPE) "<0xAB>" tokens are type 6, byte.
    private func vocabulary(model: [String: Any], added: [[String: Any]], byteTokens: Bool) throws -> ([String], [Int32]) {
        guard let vocab = model["vocab"] as? [String: Any] else { throw fail("model.vocab is missing") }
        var textOf: [Int: String] = [:]
        var typeOf: [Int: Int32] = [:]
        for (text, value) in vocab {
            guard let id = (value as? NSNumber)?.intValue, id >= 0 else { throw fail("vocab entry \(text) has no valid id") }
            if let other = textOf[id] { throw fail("tokens \(other) and \(text) share id \(id)") }
            textOf[id] = text
            typeOf[id] = byteTokens && Self.isByteToken(text) ? 6 : 1
        }
        for token in added {
            guard let id = (token["id"] as? NSNumber)?.intValue, id >= 0, let text = token["content"] as? String else {
                throw fail("an added_tokens entry lacks id or content")
            }
            if let existing = textOf[id], existing != text {
                throw fail("added token \(text) takes id \(id) of vocab token \(existing)")
            }
            textOf[id] = text
            typeOf[id] = (token["special"] as? Bool ?? false) ? 3 : 4
        }
        let count = (textOf.keys.max() ?? -1) + 1
        guard count > 0 else { throw fail("the vocabulary is empty") }
        var tokens: [String] = []
        var types: [Int32] = []
        tokens.reserveCapacity(count)
        types.reserveCapacity(count)
        for id in 0..<count {
            guard let text = textOf[id] else { throw fail("no token has id \(id) (ids must run from 0 to \(count - 1))") }
            tokens.append(text)
            types.append(typeOf[id] ?? 1)
        }
        return (tokens, types)
    }

    /// "<0x00>" ... "<0xFF>".
    private static func isByteToken(_ text: String) -> Bool {
        let utf8 = Array(text.utf8)
        return utf8.count == 6 && text.hasPrefix("<0x") && text.hasSuffix(">") && UInt8(text.dropFirst(3).prefix(2), radix: 16) != nil
    }

    /// Merge rules as "left right", from either form tokenizer.json uses.
    private func mergeRules(_ value: Any?) throws -> [String] {
        guard let list = value as? [Any] else { throw fail("model.merges is missing") }
        return try list.enumerated().map { index, item in
            if let text = item as? String { return text }
            guard let pair = item as? [String], pair.count == 2 else {
                throw fail("merge #\(index) is neither \"a b\" nor [a, b]")
            }
            guard !pair[0].contains(" ") else { throw fail("merge #\(index) has a space in its left piece") }
            return "\(pair[0]) \(pair[1])"
        }
    }

    /// The host's name for the pre-tokenizer (llama.cpp's `tokenizer.ggml.pre` vocabulary).
    func preTokenizerName(_ value: Any?, ignoreMerges: Bool) throws -> String {
        let steps = try preTokenizerSteps(value)
        switch steps {
        case [.byteLevel(useRegex: true)]: return "gpt2"
        case [.digits(individual: true), .byteLevel(useRegex: true)]: return "smollm"
        case [.split(pattern: Self.bloomPattern), .byteLevel(useRegex: false)]: return "bloom"
        case [.split(pattern: Self.llama3Pattern), .byteLevel(useRegex: false)]: return ignoreMerges ? "llama3" : "smaug-bpe"
        // llama.cpp's qwen2 runs merges on every word (its ignore_merges is off).
        case [.split(pattern: Self.qwen2Pattern), .byteLevel(useRegex: false)] where !ignoreMerges: return "qwen2"
        default: throw fail("pre-tokenizer \(steps) is not one of GPT-2's, SmolLM's, BLOOM's, Llama 3's or Qwen2's")
        }
    }

    private func preTokenizerSteps(_ value: Any?) throws -> [Step] {
        guard let object = value as? [String: Any], let type = object["type"] as? String else {
            throw fail("pre_tokenizer is missing (byte-level BPE needs a ByteLevel pre-tokenizer)")
        }
        switch type {
        case "Sequence":
            guard let list = object["pretokenizers"] as? [Any] else { throw fail("Sequence pre-tokenizer without pretokenizers") }
            return try list.flatMap { try preTokenizerSteps($0) }
        case "ByteLevel":
            if object["add_prefix_space"] as? Bool == true { throw fail("ByteLevel add_prefix_space is not supported") }
            return [.byteLevel(useRegex: object["use_regex"] as? Bool ?? true)]
        case "Digits":
            return [.digits(individual: object["individual_digits"] as? Bool ?? false)]
        case "Split":
            guard let pattern = (object["pattern"] as? [String: Any])?["Regex"] as? String,
                  (object["behavior"] as? String)?.lowercased() == "isolated", object["invert"] as? Bool != true else {
                throw fail("only Split pre-tokenizers with an isolated Regex pattern are supported")
            }
            return [.split(pattern: pattern)]
        default:
            throw fail("pre-tokenizer type \(type) is not supported")
        }
    }

    /// The special token a TemplateProcessing post-processor puts before a single sequence.
    private func templateFirstSpecial(_ value: Any?) -> String? {
        guard let object = value as? [String: Any] else { return nil }
        if let processors = object["processors"] as? [Any] {
            return processors.lazy.compactMap { templateFirstSpecial($0) }.first
        }
        guard object["type"] as? String == "TemplateProcessing",
              let first = (object["single"] as? [[String: Any]])?.first,
              let special = first["SpecialToken"] as? [String: Any] else { return nil }
        return special["id"] as? String
    }

    /// tokenizer_config.json's chat_template (a string, or a list of named templates), else
    /// the chat_template.jinja file newer transformers write.
    private func chatTemplate(_ config: ConfigJSON, file: String?) throws -> String? {
        if let text = config.string("chat_template") { return text }
        if let named = config.values["chat_template"] as? [[String: Any]] {
            return (named.first { $0["name"] as? String == "default" } ?? named.first)?["template"] as? String
        }
        guard let file, FileManager.default.fileExists(atPath: file) else { return nil }
        do {
            return try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw SafetensorsError.io(path: file, reason: error.localizedDescription)
        }
    }
}
