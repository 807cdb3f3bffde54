/// What llama.cpp knows about each token beyond its text, derived from the GGUF token types and
/// adjusted by the same text-based rules llama.cpp applies when it loads a vocabulary.
struct TokenAttributes: OptionSet, Sendable {
    let rawValue: UInt8
    static let unknown = TokenAttributes(rawValue: 1 << 0)
    static let unused = TokenAttributes(rawValue: 1 << 1)
    static let normal = TokenAttributes(rawValue: 1 << 2)
    static let control = TokenAttributes(rawValue: 1 << 3)
    static let userDefined = TokenAttributes(rawValue: 1 << 4)
    static let byte = TokenAttributes(rawValue: 1 << 5)

    /// llama.cpp token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte;
    /// anything else is "undefined" (no attribute).
    init(tokenType: Int32) {
        switch tokenType {
        case 1: self = .normal
        case 2: self = .unknown
        case 3: self = .control
        case 4: self = .userDefined
        case 5: self = .unused
        case 6: self = .byte
        default: self = []
        }
    }

    init(rawValue: UInt8) { self.rawValue = rawValue }
}

/// The end-of-generation set and the attribute fix-ups llama.cpp derives from token texts
/// (it has no metadata for these; see llama-vocab.cpp, "auto-detect special tokens by text").
enum EndOfGeneration {
    /// Texts of tokens that end generation.
    static let texts: Set<String> = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
        "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
        "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
        "<｜end▁of▁sentence｜>", "[e~[",
    ]
    /// Fill-in-the-middle pad / repository / file-separator tokens: llama.cpp picks one of each
    /// kind by text and also treats it as end of generation.
    static let fillInTheMiddleKinds: [[String]] = [
        ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
        ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"],
        ["<|file_sep|>"],
    ]
    /// Fill-in-the-middle prefix / suffix / middle tokens: found by text and made control tokens,
    /// but they do not end generation.
    static let fillInTheMiddleMarkers: [[String]] = [
        ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
         "<|code_prefix|>", "<|prefix|>"],
        ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
         "<|code_suffix|>", "<|suffix|>"],
        ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
         "<|code_middle|>", "<|middle|>"],
    ]
    /// Tokens llama.cpp forces to user-defined (always rendered) for gpt-oss.
    static let alwaysRendered: Set<String> = ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"]

    /// Computes the end-of-generation ids and adjusts `attributes` in place the way llama.cpp's
    /// loader does: every token recognised by text becomes a control token.
    static func resolve(tokens: [String], tokenOf: [String: Int], eos: Int?,
                        attributes: inout [TokenAttributes]) -> Set<Int> {
        var ids = Set<Int>()
        for kind in fillInTheMiddleMarkers {
            if let id = kind.compactMap({ tokenOf[$0] }).min() { attributes[id].insert(.control) }
        }
        for kind in fillInTheMiddleKinds {
            // llama.cpp takes whichever matching token its hash map yields first; take the lowest id.
            if let id = kind.compactMap({ tokenOf[$0] }).min() {
                ids.insert(id)
                attributes[id].insert(.control)
            }
        }
        for text in texts {
            if let id = tokenOf[text] {
                ids.insert(id)
                attributes[id].insert(.control)
            }
        }
        for text in alwaysRendered {
            if let id = tokenOf[text] { attributes[id] = .userDefined }
        }
        if let eos { ids.insert(eos) }

        // o200k_harmony and solar-open use "<|end|>" mid-conversation: not end of generation there.
        let has = { (text: String) in tokenOf[text].map { ids.contains($0) } ?? false }
        if let end = tokenOf["<|end|>"], ids.contains(end),
           (has("<|return|>") && has("<|call|>")) || (has("<|calls|>") && has("<|flush|>")) {
            ids.remove(end)
            attributes[end] = .userDefined
        }
        // gemma4 and paddleocr: "</s>" is not end of generation when "<|tool_response>" is.
        if let s = tokenOf["</s>"], ids.contains(s), has("<|tool_response>") {
            ids.remove(s)
            attributes[s] = .normal
        }
        return ids
    }
}
