/// A stretch of input text: either plain text still to be pre-tokenized, or one special token.
enum TextFragment: Equatable {
    case text(Range<Int>)
    case token(Int)
}

/// Cuts special-token texts out of the input before any pre-tokenization, as llama.cpp's
/// `tokenizer_st_partition` does: special tokens (control, user-defined and unknown) are tried
/// longest text first, and each one splits every plain-text fragment left by the longer ones at
/// all its non-overlapping occurrences, left to right. An occurrence that overlaps a literal
/// range (text a chat user typed) is not a token: it stays text.
struct SpecialTokenSplitter: Sendable {
    private struct Special: Sendable {
        let id: Int
        let bytes: [UInt8]
        /// Control and unknown tokens are only recognised when special parsing is on;
        /// user-defined tokens always are.
        let needsParseSpecial: Bool
    }

    private let specials: [Special]

    init(tokens: [String], attributes: [TokenAttributes]) {
        var specials: [Special] = []
        for (id, text) in tokens.enumerated() {
            let attribute = attributes[id]
            guard !attribute.isDisjoint(with: [.control, .userDefined, .unknown]) else { continue }
            let bytes = Array(text.utf8)
            guard !bytes.isEmpty else { continue }
            specials.append(Special(id: id, bytes: bytes,
                                    needsParseSpecial: !attribute.isDisjoint(with: [.control, .unknown])))
        }
        // Longest first; equal lengths by id so the order is deterministic.
        specials.sort { $0.bytes.count != $1.bytes.count ? $0.bytes.count > $1.bytes.count : $0.id < $1.id }
        self.specials = specials
    }

    func partition(_ text: [UInt8], parseSpecial: Bool, literal: [Range<Int>] = []) -> [TextFragment] {
        guard !text.isEmpty else { return [] }
        var present = [Bool](repeating: false, count: 256)
        for byte in text { present[Int(byte)] = true }

        var fragments: [TextFragment] = [.text(0..<text.count)]
        for special in specials {
            if special.needsParseSpecial && !parseSpecial { continue }
            guard present[Int(special.bytes[0])] else { continue }
            var split: [TextFragment] = []
            split.reserveCapacity(fragments.count + 2)
            var changed = false
            for fragment in fragments {
                guard case .text(let range) = fragment else {
                    split.append(fragment)
                    continue
                }
                var start = range.lowerBound
                var searchFrom = start
                while let match = Self.find(special.bytes, in: text, from: searchFrom, to: range.upperBound) {
                    let occurrence = match..<(match + special.bytes.count)
                    if literal.contains(where: { $0.overlaps(occurrence) }) {
                        searchFrom = match + 1
                        continue
                    }
                    if match > start { split.append(.text(start..<match)) }
                    split.append(.token(special.id))
                    start = occurrence.upperBound
                    searchFrom = start
                    changed = true
                }
                if start < range.upperBound { split.append(.text(start..<range.upperBound)) }
            }
            if changed { fragments = split }
        }
        return fragments
    }

    /// First occurrence of `needle` in `haystack[from..<to]`.
    private static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int, to: Int) -> Int? {
        let length = needle.count
        guard to - from >= length else { return nil }
        return haystack.withUnsafeBufferPointer { hay in
            needle.withUnsafeBufferPointer { pattern in
                let first = pattern[0]
                var i = from
                let last = to - length
                while i <= last {
                    if hay[i] == first {
                        var j = 1
                        while j < length && hay[i + j] == pattern[j] { j += 1 }
                        if j == length { return i }
                    }
                    i += 1
                }
                return nil
            }
        }
    }
}
