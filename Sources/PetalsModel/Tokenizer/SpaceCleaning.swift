/// llama.cpp's `clean_spaces` detokenization step (on for most byte-level BPE pre-tokenizers,
/// off for e.g. "smollm"): three passes over the UTF-8 bytes that undo the spaces a
/// word-level tokenizer puts before punctuation and contractions.
enum SpaceCleaning {
    static func clean(_ input: [UInt8]) -> [UInt8] {
        guard input.count > 1 else { return input }
        let space = UInt8(ascii: " "), apostrophe = UInt8(ascii: "'")

        // 1. " ?", " !", " .", " ," lose their space.
        var text = input
        var out: [UInt8] = [text[0]]
        for i in 1..<text.count {
            let x = text[i]
            if text[i - 1] == space && (x == UInt8(ascii: "?") || x == UInt8(ascii: "!")
                                        || x == UInt8(ascii: ".") || x == UInt8(ascii: ",")) {
                out.removeLast()
            }
            out.append(x)
        }

        // 2. A lone apostrophe between spaces, " ' ", loses both spaces.
        text = out
        out = [text[0]]
        var i = 1
        while i < text.count {
            let x = text[i]
            if x == apostrophe && i + 1 < text.count && text[i - 1] == space && text[i + 1] == space {
                out.removeLast()
                text[i + 1] = 0  // the next space is skipped, and no longer counts as a space
                out.append(x)
                i += 2
                continue
            }
            out.append(x)
            i += 1
        }

        // 3. " 's", " 'm", " 're", " 've" lose their space (" 't", " 'd", " 'll" keep it).
        text = out
        out = [text[0]]
        for i in 1..<text.count {
            let x = text[i]
            if text[i - 1] == space && x == apostrophe && i + 1 < text.count {
                let x1 = text[i + 1]
                if x1 == UInt8(ascii: "s") || x1 == UInt8(ascii: "m") {
                    out.removeLast()
                } else if i + 2 < text.count {
                    let x2 = text[i + 2]
                    if (x1 == UInt8(ascii: "r") && x2 == UInt8(ascii: "e"))
                        || (x1 == UInt8(ascii: "v") && x2 == UInt8(ascii: "e")) {
                        out.removeLast()
                    }
                }
            }
            out.append(x)
        }
        return out
    }
}
